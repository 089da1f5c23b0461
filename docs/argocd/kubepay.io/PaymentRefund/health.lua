-- Argo CD health of a kubepay.io PaymentRefund (docs/argocd/README.md).
-- Reads what kubepay writes: the kstatus conditions Stalled and Reconciling, Ready and
-- status.phase; an object written before those conditions existed is judged from its phase. Only
-- Lua's base and table libraries are used, which is all Argo CD opens for a script from argocd-cm.
local hs = {}

local function condition(status, kind)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if type(c) == "table" and c.type == kind then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- explain says "prefix (Reason): message", with fallback when the condition has no message.
local function explain(prefix, c, fallback)
  local reason, message = nil, fallback
  if c ~= nil then
    if c.reason ~= nil and c.reason ~= "" then
      reason = tostring(c.reason)
    end
    if c.message ~= nil and c.message ~= "" then
      message = tostring(c.message)
    end
  end
  if reason ~= nil then
    prefix = prefix .. " (" .. reason .. ")"
  end
  if message == nil then
    return prefix
  end
  return prefix .. ": " .. message
end

-- staleness: kubepay has not yet written status for the object's current generation.
local function stale(status)
  local generation = nil
  if type(obj.metadata) == "table" then
    generation = tonumber(obj.metadata.generation)
  end
  if generation == nil then
    return nil
  end
  local observed = tonumber(status.observedGeneration)
  if observed ~= nil and observed < generation then
    return "waiting for kubepay to observe generation " .. generation .. " (status is of generation " .. observed .. ")"
  end
  for _, kind in ipairs({"Ready", "Stalled", "Reconciling", "Settled"}) do
    local c = condition(status, kind)
    local seen = nil
    if c ~= nil then
      seen = tonumber(c.observedGeneration)
    end
    if seen ~= nil and seen < generation then
      return "waiting for kubepay to observe generation " .. generation .. " (condition " .. kind .. " is of generation " .. seen .. ")"
    end
  end
  return nil
end

local function done(status, message)
  hs.status = status
  hs.message = message
  return hs
end

local status = obj.status
if type(status) ~= "table" then
  return done("Progressing", "waiting for kubepay to reserve the amount on the order")
end
local waiting = stale(status)
if waiting ~= nil then
  return done("Progressing", waiting)
end

local phase = status.phase
if phase == nil then
  phase = ""
end
local ready = condition(status, "Ready")

-- Failed: nothing was given back; a person decides what next.
if phase == "Failed" then
  return done("Degraded", explain("Failed", ready, "nothing was refunded"))
end
-- Stalled: the provider holds the money for a person to act on (WeChat Pay ABNORMAL).
local stalled = condition(status, "Stalled")
if isTrue(stalled) then
  return done("Degraded", explain("Stalled", stalled, "a person must act on this refund"))
end
if phase == "Succeeded" then
  local message = "the money went back to the customer"
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    message = tostring(ready.message)
  end
  return done("Healthy", "Succeeded: " .. message)
end
-- Reconciling: the refund is in flight, or kubepay retries on its own.
local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  return done("Progressing", explain("Reconciling", reconciling, "the refund is in flight"))
end
if phase == "" or phase == "Pending" then
  return done("Progressing", explain("Pending", ready, "reserving the amount on the order"))
end
if phase == "Processing" then
  return done("Progressing", explain("Processing", ready, "the provider answers later"))
end
return done("Unknown", "unknown phase " .. tostring(phase) .. " (a newer kubepay? update this health check)")
