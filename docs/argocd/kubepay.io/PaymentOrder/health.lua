-- Argo CD health of a kubepay.io PaymentOrder (docs/argocd/README.md).
-- Reads what kubepay writes: the kstatus conditions Stalled and Reconciling, Ready, status.phase,
-- status.refunds and status.latePayments; an object written before those conditions existed is
-- judged from its phase. Only Lua's base and table libraries are used, which is all Argo CD
-- opens for a script from argocd-cm.
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
  return done("Progressing", "waiting for kubepay to create the payment")
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

-- Failed: the order will not be paid; a person decides what next.
if phase == "Failed" then
  return done("Degraded", explain("Failed", ready, "the order will not be paid"))
end
-- Stalled: only a person can move the order on (invalid amount, a blocked close, unwanted money).
local stalled = condition(status, "Stalled")
if isTrue(stalled) then
  return done("Degraded", explain("Stalled", stalled, "a person must act on this order"))
end

-- Money that arrived after the order closed must go back: with no refund a person must act; with
-- one, kubepay is giving it back.
local lateRefunding = nil
if type(status.latePayments) == "table" then
  for _, lp in ipairs(status.latePayments) do
    if type(lp) == "table" and lp.refunded ~= true then
      local what = tostring(lp.amount) .. " (payment " .. tostring(lp.id) .. ")"
      local refund = lp.refund
      if (refund == nil or refund == "") and type(status.refunds) == "table" then
        -- A refund a person created for it (spec.latePaymentID), reserved on the order.
        for _, r in ipairs(status.refunds) do
          if type(r) == "table" and r.latePaymentID == lp.id and r.state == "Reserved" then
            refund = r.name
          end
        end
      end
      if refund == nil or refund == "" then
        return done("Degraded", "LatePayment: " .. what .. " arrived after the order closed and no PaymentRefund gives it back; create one with spec.latePaymentID")
      end
      if lateRefunding == nil then
        lateRefunding = "LatePayment: " .. what .. " arrived after the order closed; PaymentRefund " .. tostring(refund) .. " gives it back (see that refund's health)"
      end
    end
  end
end

-- Reconciling: kubepay is at work on its own (creating, retrying, waiting on credentials, a refund
-- in flight).
local reconciling = condition(status, "Reconciling")
if isTrue(reconciling) then
  return done("Progressing", explain("Reconciling", reconciling, "kubepay is working on this order"))
end
if lateRefunding ~= nil then
  return done("Progressing", lateRefunding)
end
if type(status.refunds) == "table" then
  for _, r in ipairs(status.refunds) do
    if type(r) == "table" and r.state == "Reserved" then
      return done("Progressing", "RefundProcessing: PaymentRefund " .. tostring(r.name) .. " is in flight")
    end
  end
end

if phase == "" or phase == "Pending" then
  local why = nil
  if ready ~= nil and ready.status ~= "True" then
    why = ready
  end
  return done("Progressing", explain("Pending", why, "creating the payment at the provider"))
end

-- A notification that did not match the order is worth a look, but changes nothing by itself.
local note = ""
local rejected = condition(status, "NotificationRejected")
if isTrue(rejected) then
  note = "; NotificationRejected"
  if rejected.message ~= nil and rejected.message ~= "" then
    note = note .. ": " .. tostring(rejected.message)
  end
end

-- Open for the customer: kubepay has done its part, so the order is what Git asked for.
if phase == "AwaitingPayment" then
  return done("Healthy", "awaiting payment (checkout URL in status.paymentURL)" .. note)
end
if phase == "Paid" or phase == "PartiallyRefunded" or phase == "Refunded" or phase == "Expired" or phase == "Cancelled" then
  local message = "settled"
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    message = tostring(ready.message)
  end
  return done("Healthy", phase .. ": " .. message .. note)
end
return done("Unknown", "unknown phase " .. tostring(phase) .. " (a newer kubepay? update this health check)")
