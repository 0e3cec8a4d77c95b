/**
 * Spreads a percentage evenly over the requests: of every 100 it sees, exactly
 * `percentage` are chosen (deterministic, so a test or a drill knows the count).
 */
export class Share {
  private credit = 0;
  constructor(private readonly percentage: number) {}
  take(): boolean {
    this.credit += this.percentage;
    if (this.credit < 100) return false;
    this.credit -= 100;
    return true;
  }
}
