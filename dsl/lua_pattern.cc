#include "dsl/lua_pattern.h"

#include <lua.hpp>

#include <cctype>
#include <cstdint>
#include <cstring>

#include "dsl/sandbox.h"

namespace golf {

namespace {

// The language is Lua 5.4's (its manual, §6.4.1), limits included: 32 captures, nesting 200 deep.
constexpr int kMaxCaptures = 32;
constexpr int kMaxDepth = 200;
constexpr ptrdiff_t kUnfinished = -1;  // a capture whose ')' is not reached yet
constexpr ptrdiff_t kPosition = -2;    // a "()" capture: the position, not a substring
constexpr char kEsc = '%';
// Between two looks at the clock: cheap enough to be free, frequent enough to stop within ~1 ms.
constexpr uint64_t kStepsPerCheck = 1 << 14;

int uc(char c) { return static_cast<unsigned char>(c); }

struct Matcher {
  lua_State* L;
  const char* s_begin;
  const char* s_end;
  const char* p_end;
  int depth = 0;
  int level = 0;
  struct {
    const char* at;
    ptrdiff_t len;
  } cap[kMaxCaptures];
  uint64_t steps = 0, next_check = kStepsPerCheck;

  Matcher(lua_State* l, const char* s, size_t ls, const char* p, size_t lp) : L(l), s_begin(s), s_end(s + ls), p_end(p + lp) {}
  // Every unit of work the matcher does passes here; backtracking cannot run past the deadline.
  void tick(uint64_t cost = 1) {
    steps += cost;
    if (steps < next_check) return;
    next_check = steps + kStepsPerCheck;
    Sandbox::of(L)->check_deadline(L, "a string pattern");
  }
  void reset() { level = 0, depth = 0; }
};

bool class_matches(int c, int cl) {
  bool r;
  switch (std::tolower(cl)) {
    case 'a': r = std::isalpha(c); break;
    case 'c': r = std::iscntrl(c); break;
    case 'd': r = std::isdigit(c); break;
    case 'g': r = std::isgraph(c); break;
    case 'l': r = std::islower(c); break;
    case 'p': r = std::ispunct(c); break;
    case 's': r = std::isspace(c); break;
    case 'u': r = std::isupper(c); break;
    case 'w': r = std::isalnum(c); break;
    case 'x': r = std::isxdigit(c); break;
    default: return cl == c;  // %. %% %[ ...: the character itself
  }
  return std::isupper(cl) ? !r : r;
}

// One past the pattern item that starts at p (a character, %x, or a [set]).
const char* class_end(Matcher& m, const char* p) {
  char c = *p++;
  if (c == kEsc) {
    if (p == m.p_end) luaL_error(m.L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (c == '[') {
    if (*p == '^') p++;
    do {  // the first character after '[' or '[^' is in the set even when it is ']'
      if (p == m.p_end) luaL_error(m.L, "malformed pattern (missing ']')");
      char d = *p++;
      if (d == kEsc && p < m.p_end) p++;
    } while (*p != ']');
    return p + 1;
  }
  return p;
}

// p at '[', close at its ']'.
bool set_matches(int c, const char* p, const char* close) {
  bool in = true;
  if (*(p + 1) == '^') {
    in = false;
    p++;
  }
  while (++p < close) {
    if (*p == kEsc) {
      p++;
      if (class_matches(c, uc(*p))) return in;
    } else if (*(p + 1) == '-' && p + 2 < close) {
      p += 2;
      if (uc(*(p - 2)) <= c && c <= uc(*p)) return in;
    } else if (uc(*p) == c) {
      return in;
    }
  }
  return !in;
}

bool single_matches(Matcher& m, const char* s, const char* p, const char* ep) {
  if (s >= m.s_end) return false;
  int c = uc(*s);
  switch (*p) {
    case '.': return true;
    case kEsc: return class_matches(c, uc(*(p + 1)));
    case '[': return set_matches(c, p, ep - 1);
    default: return uc(*p) == c;
  }
}

const char* match(Matcher& m, const char* s, const char* p);

const char* max_expand(Matcher& m, const char* s, const char* p, const char* ep) {
  ptrdiff_t i = 0;
  while (single_matches(m, s + i, p, ep)) i++, m.tick();
  for (; i >= 0; i--)
    if (const char* r = match(m, s + i, ep + 1)) return r;
  return nullptr;
}

const char* min_expand(Matcher& m, const char* s, const char* p, const char* ep) {
  for (;;) {
    if (const char* r = match(m, s, ep + 1)) return r;
    if (!single_matches(m, s, p, ep)) return nullptr;
    s++;
  }
}

const char* start_capture(Matcher& m, const char* s, const char* p, ptrdiff_t what) {
  if (m.level >= kMaxCaptures) luaL_error(m.L, "too many captures");
  m.cap[m.level].at = s;
  m.cap[m.level].len = what;
  m.level++;
  const char* r = match(m, s, p);
  if (!r) m.level--;
  return r;
}

const char* end_capture(Matcher& m, const char* s, const char* p) {
  int l = m.level - 1;
  while (l >= 0 && m.cap[l].len != kUnfinished) l--;
  if (l < 0) luaL_error(m.L, "invalid pattern capture");
  m.cap[l].len = s - m.cap[l].at;
  const char* r = match(m, s, p);
  if (!r) m.cap[l].len = kUnfinished;
  return r;
}

const char* match_balance(Matcher& m, const char* s, const char* p) {
  if (p >= m.p_end - 1) luaL_error(m.L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m.s_end || *s != *p) return nullptr;
  const char open = *p, close = *(p + 1);
  int depth = 1;
  while (++s < m.s_end) {
    m.tick();
    if (*s == close) {
      if (--depth == 0) return s + 1;
    } else if (*s == open) {
      depth++;
    }
  }
  return nullptr;
}

const char* match_backref(Matcher& m, const char* s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= m.level || m.cap[l].len == kUnfinished) luaL_error(m.L, "invalid capture index %%%d", l + 1);
  size_t len = size_t(m.cap[l].len);  // a position capture's -2 becomes huge and never fits
  m.tick(len / 16 + 1);
  if (size_t(m.s_end - s) >= len && std::memcmp(m.cap[l].at, s, len) == 0) return s + len;
  return nullptr;
}

// The end of a match of p[...] at s, or nullptr.
const char* match(Matcher& m, const char* s, const char* p) {
  if (++m.depth > kMaxDepth) luaL_error(m.L, "pattern too complex");
  struct Leave {
    int& depth;
    ~Leave() { depth--; }
  } leave{m.depth};
  for (;;) {
    m.tick();
    if (p == m.p_end) return s;
    switch (*p) {
      case '(':
        if (*(p + 1) == ')') return start_capture(m, s, p + 2, kPosition);
        return start_capture(m, s, p + 1, kUnfinished);
      case ')': return end_capture(m, s, p + 1);
      case '$':
        if (p + 1 == m.p_end) return s == m.s_end ? s : nullptr;
        break;  // a '$' elsewhere is a plain character
      case kEsc:
        if (*(p + 1) == 'b') {
          s = match_balance(m, s, p + 2);
          if (!s) return nullptr;
          p += 4;
          continue;
        }
        if (*(p + 1) == 'f') {
          p += 2;
          if (*p != '[') luaL_error(m.L, "missing '[' after '%%f' in pattern");
          const char* ep = class_end(m, p);
          int prev = s == m.s_begin ? 0 : uc(*(s - 1));
          int cur = s < m.s_end ? uc(*s) : 0;
          if (set_matches(prev, p, ep - 1) || !set_matches(cur, p, ep - 1)) return nullptr;
          p = ep;
          continue;
        }
        if (std::isdigit(uc(*(p + 1)))) {
          s = match_backref(m, s, uc(*(p + 1)));
          if (!s) return nullptr;
          p += 2;
          continue;
        }
        break;
      default: break;
    }
    const char* ep = class_end(m, p);
    if (!single_matches(m, s, p, ep)) {
      if (*ep == '*' || *ep == '?' || *ep == '-') {  // zero repetitions are fine
        p = ep + 1;
        continue;
      }
      return nullptr;
    }
    switch (*ep) {
      case '?':
        if (const char* r = match(m, s + 1, ep + 1)) return r;
        p = ep + 1;
        continue;
      case '+': return max_expand(m, s + 1, p, ep);
      case '*': return max_expand(m, s, p, ep);
      case '-': return min_expand(m, s, p, ep);
      default:
        s++;
        p = ep;
        continue;
    }
  }
}

void push_capture(Matcher& m, int i, const char* s, const char* e) {
  if (i >= m.level) {
    if (i != 0) luaL_error(m.L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(m.L, s, size_t(e - s));  // no captures: the whole match
    return;
  }
  ptrdiff_t len = m.cap[i].len;
  if (len == kUnfinished) luaL_error(m.L, "unfinished capture");
  if (len == kPosition) lua_pushinteger(m.L, lua_Integer(m.cap[i].at - m.s_begin) + 1);
  else lua_pushlstring(m.L, m.cap[i].at, size_t(len));
}

// Pushes the captures (or, when there are none and s is given, the whole match); returns how many.
int push_captures(Matcher& m, const char* s, const char* e) {
  int n = m.level == 0 && s ? 1 : m.level;
  luaL_checkstack(m.L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(m, i, s, e);
  return n;
}

// Lua 5.4's rule for an initial position: negative counts from the end, 0 and below-start are 1.
size_t start_index(lua_Integer pos, size_t len) {
  if (pos > 0) return size_t(pos);
  if (pos == 0 || pos < -lua_Integer(len)) return 1;
  return len + size_t(pos) + 1;
}

bool has_specials(const char* p, size_t lp) {
  for (size_t i = 0; i < lp; i++)
    if (p[i] != '\0' && std::strchr("^$*+?.([%-", p[i])) return true;
  return false;
}

int find_or_match(lua_State* L, bool find) {
  size_t ls, lp;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  Matcher m(L, s, ls, p, lp);
  if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
    // A plain search, also bounded: a long needle that almost matches everywhere is quadratic.
    for (size_t i = init; lp <= ls && i <= ls - lp; i++) {
      m.tick(lp / 16 + 1);
      if (std::memcmp(s + i, p, lp) == 0) {
        lua_pushinteger(L, lua_Integer(i) + 1);
        lua_pushinteger(L, lua_Integer(i + lp));
        return 2;
      }
    }
    luaL_pushfail(L);
    return 1;
  }
  const bool anchor = lp > 0 && *p == '^';
  if (anchor) p++, m.p_end = p + lp - 1;
  const char* s1 = s + init;
  do {
    m.reset();
    if (const char* e = match(m, s1, p)) {
      if (!find) return push_captures(m, s1, e);
      lua_pushinteger(L, lua_Integer(s1 - s) + 1);
      lua_pushinteger(L, lua_Integer(e - s));
      return push_captures(m, nullptr, nullptr) + 2;
    }
  } while (s1++ < m.s_end && !anchor);
  luaL_pushfail(L);
  return 1;
}

int str_find(lua_State* L) { return find_or_match(L, true); }
int str_match(lua_State* L) { return find_or_match(L, false); }

// gmatch's iterator; upvalues: the subject, the pattern, the next position (0-based) and the end
// of the last match (-1 before the first), so that an empty match right after a match is skipped.
int gmatch_step(lua_State* L) {
  size_t ls, lp;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char* p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
  Matcher m(L, s, ls, p, lp);
  for (const char* src = s + pos; src <= m.s_end; src++) {
    m.reset();
    const char* e = match(m, src, p);
    if (e && (last < 0 || e != s + last)) {
      lua_pushinteger(L, lua_Integer(e - s));
      lua_copy(L, -1, lua_upvalueindex(3));
      lua_replace(L, lua_upvalueindex(4));
      return push_captures(m, src, e);
    }
  }
  return 0;
}

int str_gmatch(lua_State* L) {
  size_t ls;
  luaL_checklstring(L, 1, &ls);
  luaL_checkstring(L, 2);
  size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) init = ls + 1;  // no match at all
  lua_settop(L, 2);
  lua_pushinteger(L, lua_Integer(init));
  lua_pushinteger(L, -1);
  lua_pushcclosure(L, gmatch_step, 4);
  return 1;
}

void add_replacement_string(Matcher& m, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = m.L;
  size_t l;
  const char* r = lua_tolstring(L, 3, &l);
  const char* end = r + l;
  for (const char* p = r; p < end; p++) {
    if (*p != kEsc) {
      luaL_addchar(b, *p);
      continue;
    }
    p++;
    if (*p == kEsc) {
      luaL_addchar(b, *p);
    } else if (*p == '0') {
      luaL_addlstring(b, s, size_t(e - s));
    } else if (std::isdigit(uc(*p))) {
      push_capture(m, *p - '1', s, e);
      luaL_tolstring(L, -1, nullptr);
      lua_remove(L, -2);
      luaL_addvalue(b);
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", kEsc);
    }
  }
}

void add_replacement(Matcher& m, luaL_Buffer* b, const char* s, const char* e, int kind) {
  lua_State* L = m.L;
  if (kind == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = push_captures(m, s, e);
    lua_call(L, n, 1);
  } else if (kind == LUA_TTABLE) {
    push_capture(m, 0, s, e);
    lua_gettable(L, 3);
  } else {
    add_replacement_string(m, b, s, e);
    return;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    luaL_addlstring(b, s, size_t(e - s));
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  } else {
    luaL_addvalue(b);
  }
}

int str_gsub(lua_State* L) {
  size_t ls, lp;
  const char* src = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const int kind = lua_type(L, 3);
  const lua_Integer max_n = luaL_optinteger(L, 4, lua_Integer(ls) + 1);
  luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                   "string/function/table");
  Matcher m(L, src, ls, p, lp);
  const bool anchor = lp > 0 && *p == '^';
  if (anchor) p++, m.p_end = p + lp - 1;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char* last = nullptr;
  lua_Integer n = 0;
  while (n < max_n) {
    m.reset();
    const char* e = match(m, src, p);
    if (e && e != last) {
      n++;
      add_replacement(m, &b, src, e, kind);
      src = last = e;
    } else if (src < m.s_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  luaL_addlstring(&b, src, size_t(m.s_end - src));
  luaL_pushresult(&b);
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace

void install_bounded_patterns(lua_State* L) {
  lua_getglobal(L, "string");
  const luaL_Reg fns[] = {{"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch}, {"gsub", str_gsub}, {nullptr, nullptr}};
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}

}  // namespace golf
