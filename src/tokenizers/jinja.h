// The chat-template interpreter's values and trees, shared by its parser
// (jinja_parse.cpp) and its renderer (chat_template.cpp). Internal to the library.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emily/chat_template.h"

namespace emily::jinja {

inline constexpr const char* kOp = "chat_template";

// ---- values -----------------------------------------------------------------------------

struct Value;
using List = std::vector<Value>;
using Dict = std::map<std::string, Value>;

struct Undefined {};
struct None {};

struct Value {
  std::variant<Undefined, None, bool, std::int64_t, std::string, std::shared_ptr<const List>,
               std::shared_ptr<const Dict>>
      v;
  Value() = default;
  template <class T>
  Value(T x) : v(std::move(x)) {}
  bool undefined() const { return std::holds_alternative<Undefined>(v); }
  bool none() const { return std::holds_alternative<None>(v); }
  const std::string* str() const { return std::get_if<std::string>(&v); }
  const std::int64_t* integer() const { return std::get_if<std::int64_t>(&v); }
  const List* list() const {
    auto p = std::get_if<std::shared_ptr<const List>>(&v);
    return p ? p->get() : nullptr;
  }
  const Dict* dict() const {
    auto p = std::get_if<std::shared_ptr<const Dict>>(&v);
    return p ? p->get() : nullptr;
  }
};

inline Value make_list(List l) {
  return Value(std::shared_ptr<const List>(std::make_shared<List>(std::move(l))));
}
inline Value make_dict(Dict d) {
  return Value(std::shared_ptr<const Dict>(std::make_shared<Dict>(std::move(d))));
}

// ---- expressions ------------------------------------------------------------------------

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    literal,
    name,
    attr,
    item,
    slice,
    call,
    filter,
    test,
    negate,
    minus,
    binary,
    logic_and,
    logic_or,
    ternary,
    list
  } kind;
  Value value;                // literal
  std::string name;           // name, attr, call/filter/test name, binary operator
  bool flag = false;          // test: "is not"
  std::vector<ExprPtr> args;  // operands (first is the object for attr/item/filter/test)
};

// Parses a template; FormatError on bad syntax, Unsupported outside the subset.
std::shared_ptr<const ChatTemplate::Node> parse(std::string_view source);

}  // namespace emily::jinja

namespace emily {

// ---- statements -------------------------------------------------------------------------

struct ChatTemplate::Node {
  enum class Kind { text, output, block, branch, loop, set } kind;
  std::string text;                // text; set: variable name
  jinja::ExprPtr expr;             // output, set; loop: iterable
  jinja::ExprPtr filter;           // loop: "for x in xs if cond"
  std::vector<std::string> names;  // loop variables
  std::vector<std::pair<jinja::ExprPtr, std::shared_ptr<Node>>> branches;  // if/elif (+ else: null)
  std::vector<std::shared_ptr<Node>> body;                                 // block; loop body
  std::shared_ptr<Node> otherwise;                                         // loop else
};

}  // namespace emily
