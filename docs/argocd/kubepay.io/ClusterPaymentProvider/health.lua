-- Argo CD health of a kubepay.io PaymentProvider or ClusterPaymentProvider (the same script for
-- both; docs/argocd/README.md).
-- Reads what kubepay writes: the kstatus conditions Stalled and Reconciling, and Ready; an object
-- written before Stalled and Reconciling existed is judged from Ready. Only Lua's base and table
-- libraries are used, which is all Argo CD opens for a script from argocd-cm.
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
if type(status) ~= "table" or type(status.conditions) ~= "table" or #status.conditions == 0 then
  return done("Progressing", "waiting for kubepay to check the credentials")
end
local waiting = stale(status)
if waiting ~= nil then
  return done("Progressing", waiting)
end

-- Stalled: the provider refused the credentials, or the Secret is missing or does not parse; only
-- a new Secret helps.
local stalled = condition(status, "Stalled")
if isTrue(stalled) then
  return done("Degraded", explain("Stalled", stalled, "the credentials need a person"))
end
-- Reconciling: the provider could not be asked, or the provider is kept while orders use it.
local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  return done("Progressing", explain("Reconciling", reconciling, "kubepay is checking the credentials"))
end
local ready = condition(status, "Ready")
if ready == nil then
  return done("Progressing", "waiting for kubepay to check the credentials")
end
if ready.status == "True" then
  return done("Healthy", explain("Ready", ready, "the provider accepts the credentials"))
end
-- Written before Stalled and Reconciling existed: refused credentials need a person, the rest is
-- retried.
if ready.reason == "CredentialsInvalid" then
  return done("Degraded", explain("Not ready", ready, "the credentials do not work"))
end
return done("Progressing", explain("Not ready", ready, "kubepay is checking the credentials"))
