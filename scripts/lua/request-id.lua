-- Request ID.
-- Keeps a client's `x-request-id` when it is a sane token, else makes one
-- (time, exchange id and a random part), sends it upstream and echoes it back.
local function valid(id)
  return id ~= nil and #id <= 128 and id:match("^[%w%-_.:]+$") ~= nil
end

function onRequest()
  local id = request.header("x-request-id")
  if not valid(id) then
    id = string.format("%x-%x-%06x", math.floor(time.now() * 1000), exchange.id(), math.random(0, 0xffffff))
    request.set_header("x-request-id", id)
  end
end

function onResponse()
  response.set_header("x-request-id", request.header("x-request-id"))
end
