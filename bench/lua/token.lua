-- wrk -s token.lua URL -- <authorization header value> <scope>
-- A client_credentials token request, the client authenticated by the given header.
local req
function init(args)
  req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = args[1],
  }, "grant_type=client_credentials&scope=" .. args[2])
end
function request() return req end
