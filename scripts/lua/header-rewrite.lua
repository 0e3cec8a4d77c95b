-- The typical header-rewriting script of the benchmark (bench: divisor-lua).
-- Sets x-api-version: 2 when absent and x-tenant to the first label of the Host;
-- on the way back sets x-served-by and removes x-powered-by.
function onRequest()
  if request.header("x-api-version") == nil then
    request.set_header("x-api-version", "2")
  end
  request.set_header("x-tenant", request.host():match("^[^.]*"))
end

function onResponse()
  response.set_header("x-served-by", "divisor")
  response.remove_header("x-powered-by")
end
