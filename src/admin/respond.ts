/** The admin API's error body: `{ error: { code, message } }`, code stable, message saying what to do. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}
