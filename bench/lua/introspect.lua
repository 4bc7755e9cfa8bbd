-- wrk -s introspect.lua URL -- <authorization header value> <token>
-- An RFC 7662 introspection of one token, the caller authenticated by the given header.
local req
function init(args)
  req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = args[1],
  }, "token=" .. args[2])
end
function request() return req end
