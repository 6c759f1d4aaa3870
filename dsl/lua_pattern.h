// string.find, string.match, string.gmatch and string.gsub for the sandbox, with Lua 5.4's
// pattern language but a matcher that checks the sandbox's wall-clock deadline as it backtracks.
// Lua's own matcher runs in C where the instruction hook never fires, so one line such as
// string.rep("a", 1e5):find(".-.-.-.-b") would hang an untrusted artifact's decode forever.
#pragma once

struct lua_State;

namespace golf {

// Replaces the four functions in the `string` table (which is also strings' __index).
void install_bounded_patterns(lua_State* L);

}  // namespace golf
