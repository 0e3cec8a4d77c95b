-- Canary by header or percentage.
-- Requests with `x-canary: 1` (or vars.header / vars.value) go to the canary service,
-- and so does vars.percentage percent of the others, spread evenly.
-- Config: services: [stable, canary]; vars: { canary: canary, percentage: 10 }.
local header = vars.header or "x-canary"
local value = vars.value or "1"
local canary = vars.canary or "canary"
local percentage = tonumber(vars.percentage or "0")
local credit = 0

function onRequest()
  if request.header(header) == value then
    route.use_service(canary)
    return
  end
  credit = credit + percentage
  if credit >= 100 then
    credit = credit - 100
    route.use_service(canary)
  end
end
