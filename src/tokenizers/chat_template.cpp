// A small Jinja interpreter for chat templates: rendering. Parsing (jinja_parse.cpp)
// builds a tree of nodes and expressions; rendering walks it with Jinja's semantics for
// the values chat templates touch (undefined, none, booleans, integers, strings, lists,
// dicts). Anything outside the subset is refused with Unsupported rather than
// approximated.
#include "emily/chat_template.h"

#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

#include "emily/error.h"
#include "tokenizers/jinja.h"

namespace emily {
namespace jinja {
namespace {

bool truthy(const Value& x) {
  if (auto b = std::get_if<bool>(&x.v)) return *b;
  if (auto i = x.integer()) return *i != 0;
  if (auto s = x.str()) return !s->empty();
  if (auto l = x.list()) return !l->empty();
  if (auto d = x.dict()) return !d->empty();
  return false;  // undefined, none
}

std::string to_text(const Value& x) {
  if (x.undefined()) return "";
  if (x.none()) return "None";
  if (auto b = std::get_if<bool>(&x.v)) return *b ? "True" : "False";
  if (auto i = x.integer()) return std::to_string(*i);
  if (auto s = x.str()) return *s;
  EMILY_THROW(Unsupported, kOp, "printing a list or dict (Python repr) is not supported");
}

bool equal(const Value& a, const Value& b) {
  if (a.v.index() != b.v.index()) return false;
  if (a.undefined() || a.none()) return true;
  if (auto x = std::get_if<bool>(&a.v)) return *x == std::get<bool>(b.v);
  if (auto x = a.integer()) return *x == *b.integer();
  if (auto x = a.str()) return *x == *b.str();
  if (auto x = a.list()) {
    const List& y = *b.list();
    if (x->size() != y.size()) return false;
    for (std::size_t i = 0; i < x->size(); ++i)
      if (!equal((*x)[i], y[i])) return false;
    return true;
  }
  const Dict& x = *a.dict();
  const Dict& y = *b.dict();
  if (x.size() != y.size()) return false;
  for (const auto& [k, v] : x) {
    auto it = y.find(k);
    if (it == y.end() || !equal(v, it->second)) return false;
  }
  return true;
}

using Node = ChatTemplate::Node;
using NodePtr = std::shared_ptr<Node>;

// ---- rendering --------------------------------------------------------------------------

class Renderer {
 public:
  explicit Renderer(Dict globals) { scopes_.push_back(std::move(globals)); }

  void run(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::text:
        out += n.text;
        return;
      case Node::Kind::output:
        out += to_text(eval(*n.expr));
        return;
      case Node::Kind::block:
        for (const NodePtr& c : n.body) run(*c, out);
        return;
      case Node::Kind::set:
        scopes_.back()[n.text] = eval(*n.expr);
        return;
      case Node::Kind::branch:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || truthy(eval(*cond))) {
            run(*body, out);
            return;
          }
        }
        return;
      case Node::Kind::loop:
        return loop(n, out);
    }
  }

 private:
  void loop(const Node& n, std::string& out) {
    Value seq = eval(*n.expr);
    List items;
    if (const List* l = seq.list()) {
      items = *l;
    } else if (const Dict* d = seq.dict()) {
      for (const auto& [k, v] : *d) items.push_back(Value(k));
    } else if (!seq.undefined()) {
      EMILY_THROW(Unsupported, kOp, "a for loop over something other than a list or dict");
    }
    if (n.filter) {
      List kept;
      for (const Value& item : items) {
        scopes_.emplace_back();
        bind(n.names, item);
        if (truthy(eval(*n.filter))) kept.push_back(item);
        scopes_.pop_back();
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (n.otherwise) run(*n.otherwise, out);
      return;
    }
    auto length = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < length; ++i) {
      // Each iteration is a scope of its own: a `set` inside does not outlive it.
      scopes_.emplace_back();
      bind(n.names, items[i]);
      Dict info;
      info["index"] = Value(i + 1);
      info["index0"] = Value(i);
      info["revindex"] = Value(length - i);
      info["revindex0"] = Value(length - i - 1);
      info["first"] = Value(i == 0);
      info["last"] = Value(i + 1 == length);
      info["length"] = Value(length);
      info["previtem"] = i > 0 ? items[i - 1] : Value();
      info["nextitem"] = i + 1 < length ? items[i + 1] : Value();
      scopes_.back()["loop"] = make_dict(std::move(info));
      run(*n.body[0], out);
      scopes_.pop_back();
    }
  }

  void bind(const std::vector<std::string>& names, const Value& item) {
    if (names.size() == 1) {
      scopes_.back()[names[0]] = item;
      return;
    }
    const List* l = item.list();
    if (l == nullptr || l->size() != names.size())
      EMILY_THROW(ValueError, kOp, "cannot unpack a loop item into ", names.size(), " names");
    for (std::size_t k = 0; k < names.size(); ++k) scopes_.back()[names[k]] = (*l)[k];
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value();
  }

  static Value member(const Value& obj, const Value& key, const std::string& what) {
    if (obj.undefined())
      EMILY_THROW(ValueError, kOp, "'", what, "' is read from an undefined value");
    if (const Dict* d = obj.dict()) {
      if (const std::string* k = key.str()) {
        auto it = d->find(*k);
        return it == d->end() ? Value() : it->second;
      }
      return Value();
    }
    if (const List* l = obj.list()) {
      if (const std::int64_t* i = key.integer()) {
        std::int64_t at = *i < 0 ? *i + static_cast<std::int64_t>(l->size()) : *i;
        if (at < 0 || at >= static_cast<std::int64_t>(l->size())) return Value();
        return (*l)[at];
      }
      return Value();
    }
    if (const std::string* s = obj.str()) {
      if (const std::int64_t* i = key.integer()) {
        std::int64_t at = *i < 0 ? *i + static_cast<std::int64_t>(s->size()) : *i;
        if (at < 0 || at >= static_cast<std::int64_t>(s->size())) return Value();
        if (static_cast<unsigned char>((*s)[at]) >= 0x80)
          EMILY_THROW(Unsupported, kOp, "indexing a non-ASCII string is not supported");
        return Value(std::string(1, (*s)[at]));
      }
    }
    return Value();
  }

  static std::string trim(const std::string& s, bool left = true, bool right = true) {
    const char* ws = " \t\n\r\f\v";
    std::size_t b = left ? s.find_first_not_of(ws) : 0;
    if (b == std::string::npos) return "";
    std::size_t e = right ? s.find_last_not_of(ws) : s.size() - 1;
    return s.substr(b, e - b + 1);
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args;
    for (std::size_t k = 1; k < e.args.size(); ++k) args.push_back(eval(*e.args[k]));
    if (callee.kind == Expr::Kind::name && callee.name == "raise_exception") {
      std::string message = args.empty() ? "" : to_text(args[0]);
      EMILY_THROW(ValueError, kOp, "the template raised: ", message);
    }
    if (callee.kind == Expr::Kind::attr) {
      Value obj = eval(*callee.args[0]);
      const std::string& m = callee.name;
      if (const std::string* s = obj.str()) {
        if (m == "strip" && args.empty()) return Value(trim(*s));
        if (m == "lstrip" && args.empty()) return Value(trim(*s, true, false));
        if (m == "rstrip" && args.empty()) return Value(trim(*s, false, true));
        if ((m == "startswith" || m == "endswith") && args.size() == 1 && args[0].str()) {
          const std::string& x = *args[0].str();
          bool r = x.size() <= s->size() &&
                   (m == "startswith" ? s->compare(0, x.size(), x) == 0
                                      : s->compare(s->size() - x.size(), x.size(), x) == 0);
          return Value(r);
        }
      }
      EMILY_THROW(Unsupported, kOp, "the method '.", m, "()' is not supported");
    }
    EMILY_THROW(Unsupported, kOp, "calling '", callee.kind == Expr::Kind::name ? callee.name : "?",
                "()' is not supported; this template cannot be rendered faithfully");
  }

  Value filter(const Expr& e) {
    Value x = eval(*e.args[0]);
    const std::string& f = e.name;
    if (f == "trim" && e.args.size() == 1) return Value(trim(to_text(x)));
    if (f == "length" || f == "count") {
      if (const std::string* s = x.str()) {
        std::int64_t n = 0;
        for (unsigned char c : *s) n += (c & 0xC0) != 0x80;
        return Value(n);
      }
      if (const List* l = x.list()) return Value(static_cast<std::int64_t>(l->size()));
      if (const Dict* d = x.dict()) return Value(static_cast<std::int64_t>(d->size()));
    }
    if ((f == "lower" || f == "upper") && x.str()) {
      std::string s = *x.str();
      for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x80)
          c = static_cast<char>(f == "lower" ? std::tolower(c) : std::toupper(c));
      for (unsigned char c : s)
        if (c >= 0x80)
          EMILY_THROW(Unsupported, kOp, "case filters on non-ASCII text are not supported");
      return Value(s);
    }
    if (f == "string") return Value(to_text(x));
    if (f == "default" && e.args.size() == 2) return x.undefined() ? eval(*e.args[1]) : x;
    EMILY_THROW(Unsupported, kOp, "the filter '", f,
                "' is not supported; this template cannot be rendered faithfully");
  }

  Value test(const Expr& e) {
    Value x = eval(*e.args[0]);
    bool r;
    const std::string& t = e.name;
    if (t == "defined")
      r = !x.undefined();
    else if (t == "undefined")
      r = x.undefined();
    else if (t == "none")
      r = x.none();
    else if (t == "string")
      r = x.str() != nullptr;
    else if (t == "number" || t == "integer")
      r = x.integer() != nullptr;
    else if (t == "boolean")
      r = std::holds_alternative<bool>(x.v);
    else if (t == "mapping")
      r = x.dict() != nullptr;
    else if (t == "sequence" || t == "iterable")
      r = x.list() || x.str() || x.dict();
    else if (t == "true" || t == "false") {
      auto b = std::get_if<bool>(&x.v);
      r = b && *b == (t == "true");
    } else
      EMILY_THROW(Unsupported, kOp, "the test 'is ", t, "' is not supported");
    return Value(e.flag ? !r : r);
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    Value a = eval(*e.args[0]);
    Value b = eval(*e.args[1]);
    if (op == "==") return Value(equal(a, b));
    if (op == "!=") return Value(!equal(a, b));
    if (op == "~") return Value(to_text(a) + to_text(b));
    if (op == "in" || op == "not in") {
      bool r = false;
      if (const std::string* s = b.str()) {
        if (!a.str()) EMILY_THROW(ValueError, kOp, "'in <string>' needs a string on the left");
        r = s->find(*a.str()) != std::string::npos;
      } else if (const List* l = b.list()) {
        for (const Value& v : *l) r = r || equal(a, v);
      } else if (const Dict* d = b.dict()) {
        r = a.str() && d->count(*a.str());
      } else {
        EMILY_THROW(ValueError, kOp, "'in' needs a string, list or dict on the right");
      }
      return Value(op == "in" ? r : !r);
    }
    if (a.undefined() || b.undefined())
      EMILY_THROW(ValueError, kOp, "operator '", op, "' on an undefined value");
    if (op == "+") {
      if (a.str() && b.str()) return Value(*a.str() + *b.str());
      if (a.list() && b.list()) {
        List l = *a.list();
        l.insert(l.end(), b.list()->begin(), b.list()->end());
        return make_list(std::move(l));
      }
    }
    const std::int64_t* x = a.integer();
    const std::int64_t* y = b.integer();
    if (x && y) {
      if (op == "+") return Value(*x + *y);
      if (op == "-") return Value(*x - *y);
      if (op == "*") return Value(*x * *y);
      if (op == "<") return Value(*x < *y);
      if (op == ">") return Value(*x > *y);
      if (op == "<=") return Value(*x <= *y);
      if (op == ">=") return Value(*x >= *y);
      if ((op == "%" || op == "//") && *y != 0) {
        // Python rounds toward negative infinity.
        std::int64_t q = *x / *y, r = *x % *y;
        if (r != 0 && ((r < 0) != (*y < 0))) --q, r += *y;
        return Value(op == "%" ? r : q);
      }
    }
    if (a.str() && b.str()) {
      int c = a.str()->compare(*b.str());
      if (op == "<") return Value(c < 0);
      if (op == ">") return Value(c > 0);
      if (op == "<=") return Value(c <= 0);
      if (op == ">=") return Value(c >= 0);
    }
    EMILY_THROW(Unsupported, kOp, "operator '", op, "' on these operand types is not supported");
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::literal:
        return e.value;
      case Expr::Kind::name:
        return lookup(e.name);
      case Expr::Kind::attr:
        return member(eval(*e.args[0]), Value(e.name), e.name);
      case Expr::Kind::item: {
        Value key = eval(*e.args[1]);
        return member(eval(*e.args[0]), key, key.str() ? *key.str() : "[]");
      }
      case Expr::Kind::slice: {
        Value obj = eval(*e.args[0]);
        const List* l = obj.list();
        if (l == nullptr) EMILY_THROW(Unsupported, kOp, "slicing something other than a list");
        auto n = static_cast<std::int64_t>(l->size());
        auto bound = [&](const ExprPtr& x, std::int64_t fallback) {
          if (!x) return fallback;
          Value v = eval(*x);
          if (!v.integer()) EMILY_THROW(ValueError, kOp, "slice bounds must be integers");
          std::int64_t i = *v.integer();
          if (i < 0) i += n;
          return std::clamp<std::int64_t>(i, 0, n);
        };
        std::int64_t lo = bound(e.args[1], 0), hi = bound(e.args[2], n);
        List out;
        for (std::int64_t i = lo; i < hi; ++i) out.push_back((*l)[i]);
        return make_list(std::move(out));
      }
      case Expr::Kind::call:
        return call(e);
      case Expr::Kind::filter:
        return filter(e);
      case Expr::Kind::test:
        return test(e);
      case Expr::Kind::negate:
        return Value(!truthy(eval(*e.args[0])));
      case Expr::Kind::minus: {
        Value v = eval(*e.args[0]);
        if (!v.integer()) EMILY_THROW(ValueError, kOp, "unary '-' needs an integer");
        return Value(-*v.integer());
      }
      case Expr::Kind::binary:
        return binary(e);
      case Expr::Kind::logic_and: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? eval(*e.args[1]) : a;
      }
      case Expr::Kind::logic_or: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? a : eval(*e.args[1]);
      }
      case Expr::Kind::ternary:
        return truthy(eval(*e.args[0])) ? eval(*e.args[1]) : eval(*e.args[2]);
      case Expr::Kind::list: {
        List l;
        for (const ExprPtr& x : e.args) l.push_back(eval(*x));
        return make_list(std::move(l));
      }
    }
    return Value();
  }

  std::vector<Dict> scopes_;
};

}  // namespace
}  // namespace jinja

ChatTemplate::ChatTemplate(std::string_view source) {
  root_ = jinja::parse(source);
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 const std::map<std::string, std::string>& variables) const {
  using namespace jinja;
  Dict globals;
  for (const auto& [k, v] : variables) globals[k] = Value(v);
  List list;
  for (const ChatMessage& m : messages) {
    Dict d;
    d["role"] = Value(m.role);
    d["content"] = Value(m.content);
    list.push_back(make_dict(std::move(d)));
  }
  globals["messages"] = make_list(std::move(list));
  globals["add_generation_prompt"] = Value(add_generation_prompt);
  // transformers passes these as None when the caller gives none.
  globals["tools"] = Value(None{});
  globals["documents"] = Value(None{});
  std::string out;
  Renderer(std::move(globals)).run(*root_, out);
  return out;
}

}  // namespace emily