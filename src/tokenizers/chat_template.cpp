// A small Jinja interpreter for chat templates. Parsing builds a tree of nodes and
// expressions; rendering walks it with Jinja's semantics for the values chat templates
// touch (undefined, none, booleans, integers, strings, lists, dicts). Anything outside
// the subset is refused with Unsupported rather than approximated.
#include "emily/chat_template.h"

#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

#include "emily/error.h"

namespace emily {
namespace {

constexpr const char* kOp = "chat_template";

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

Value make_list(List l) {
  return Value(std::shared_ptr<const List>(std::make_shared<List>(std::move(l))));
}
Value make_dict(Dict d) {
  return Value(std::shared_ptr<const Dict>(std::make_shared<Dict>(std::move(d))));
}

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

ExprPtr node(Expr::Kind k, std::vector<ExprPtr> args = {}, std::string name = {}) {
  auto e = std::make_shared<Expr>();
  e->kind = k;
  e->args = std::move(args);
  e->name = std::move(name);
  return e;
}

struct Lexeme {
  enum class Kind { name, string, integer, op, end } kind;
  std::string text;
};

std::vector<Lexeme> lex(std::string_view s) {
  std::vector<Lexeme> out;
  std::size_t i = 0;
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && is_name(s[j])) ++j;
      out.push_back({Lexeme::Kind::name, std::string(s.substr(i, j - i))});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j < s.size() && s[j] == '.' && j + 1 < s.size() &&
          std::isdigit(static_cast<unsigned char>(s[j + 1])))
        EMILY_THROW(Unsupported, kOp, "floating-point numbers are not supported");
      out.push_back({Lexeme::Kind::integer, std::string(s.substr(i, j - i))});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string text;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          char e = s[++j];
          switch (e) {
            case 'n':
              text += '\n';
              break;
            case 't':
              text += '\t';
              break;
            case 'r':
              text += '\r';
              break;
            case '\\':
            case '\'':
            case '"':
              text += e;
              break;
            default:
              text += '\\';
              text += e;
              break;
          }
        } else {
          text += s[j];
        }
      }
      if (j >= s.size()) EMILY_THROW(FormatError, kOp, "unterminated string literal");
      out.push_back({Lexeme::Kind::string, std::move(text)});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const char* t : two)
        if (s.substr(i, 2) == t) op = t;
      if (std::string_view("=!<>+-*/%~()[]{}.,:|").find(c) == std::string_view::npos)
        EMILY_THROW(FormatError, kOp, "unexpected character '", c, "' in an expression");
      out.push_back({Lexeme::Kind::op, op});
      i += op.size();
    }
  }
  out.push_back({Lexeme::Kind::end, ""});
  return out;
}

// Nesting deeper than this is refused: parsing recurses, and "((((..." must not be able
// to exhaust the stack.
constexpr int kMaxNesting = 200;

struct DepthGuard {
  explicit DepthGuard(int& depth) : depth_(depth) {
    if (++depth_ > kMaxNesting)
      EMILY_THROW(FormatError, kOp, "nesting deeper than ", kMaxNesting, " levels");
  }
  ~DepthGuard() { --depth_; }
  int& depth_;
};

class ExprParser {
 public:
  explicit ExprParser(std::string_view source) : tokens_(lex(source)) {}

  bool at_end() const { return peek().kind == Lexeme::Kind::end; }
  const Lexeme& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool is_op(std::string_view op) const {
    return peek().kind == Lexeme::Kind::op && peek().text == op;
  }
  bool is_name(std::string_view n) const {
    return peek().kind == Lexeme::Kind::name && peek().text == n;
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) EMILY_THROW(FormatError, kOp, "expected '", op, "', found '", peek().text, "'");
    ++pos_;
  }
  std::string expect_name() {
    if (peek().kind != Lexeme::Kind::name)
      EMILY_THROW(FormatError, kOp, "expected a name, found '", peek().text, "'");
    return tokens_[pos_++].text;
  }
  void expect_end() {
    if (!at_end()) EMILY_THROW(FormatError, kOp, "unexpected '", peek().text, "'");
  }

  ExprPtr expression() {
    DepthGuard guard(depth_);
    ExprPtr e = logic_or();
    if (is_name("if")) {
      ++pos_;
      ExprPtr cond = logic_or();
      ExprPtr otherwise = node(Expr::Kind::literal);
      if (is_name("else")) {
        ++pos_;
        otherwise = expression();
      }
      return node(Expr::Kind::ternary, {cond, e, otherwise});
    }
    return e;
  }
  ExprPtr logic_or() {
    ExprPtr e = logic_and();
    while (is_name("or")) {
      ++pos_;
      e = node(Expr::Kind::logic_or, {e, logic_and()});
    }
    return e;
  }

 private:
  ExprPtr logic_and() {
    ExprPtr e = logic_not();
    while (is_name("and")) {
      ++pos_;
      e = node(Expr::Kind::logic_and, {e, logic_not()});
    }
    return e;
  }
  ExprPtr logic_not() {
    DepthGuard guard(depth_);
    if (is_name("not")) {
      ++pos_;
      return node(Expr::Kind::negate, {logic_not()});
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr e = math1();
    for (;;) {
      std::string op;
      if (peek().kind == Lexeme::Kind::op &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
           peek().text == "<=" || peek().text == ">=")) {
        op = tokens_[pos_++].text;
      } else if (is_name("in")) {
        ++pos_;
        op = "in";
      } else if (is_name("not") && peek(1).kind == Lexeme::Kind::name && peek(1).text == "in") {
        pos_ += 2;
        op = "not in";
      } else {
        return e;
      }
      e = node(Expr::Kind::binary, {e, math1()}, op);
    }
  }
  ExprPtr math1() {
    ExprPtr e = concat();
    while (is_op("+") || is_op("-")) {
      std::string op = tokens_[pos_++].text;
      e = node(Expr::Kind::binary, {e, concat()}, op);
    }
    return e;
  }
  ExprPtr concat() {
    ExprPtr e = math2();
    while (is_op("~")) {
      ++pos_;
      e = node(Expr::Kind::binary, {e, math2()}, "~");
    }
    return e;
  }
  ExprPtr math2() {
    ExprPtr e = unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = tokens_[pos_++].text;
      e = node(Expr::Kind::binary, {e, unary()}, op);
    }
    return e;
  }
  ExprPtr unary() {
    DepthGuard guard(depth_);
    if (is_op("-")) {
      ++pos_;
      return node(Expr::Kind::minus, {unary()});
    }
    ExprPtr e = postfix(primary());
    // Filters and tests bind tighter than any operator: a + b | trim trims b.
    for (;;) {
      if (is_op("|")) {
        ++pos_;
        std::string name = expect_name();
        std::vector<ExprPtr> args{e};
        if (is_op("(")) arguments(args);
        e = node(Expr::Kind::filter, std::move(args), name);
      } else if (is_name("is")) {
        ++pos_;
        bool negated = false;
        if (is_name("not")) {
          ++pos_;
          negated = true;
        }
        std::string name = expect_name();
        std::vector<ExprPtr> args{e};
        if (is_op("(")) arguments(args);
        auto t = std::make_shared<Expr>();
        t->kind = Expr::Kind::test;
        t->name = name;
        t->flag = negated;
        t->args = std::move(args);
        e = t;
      } else {
        return e;
      }
    }
  }
  void arguments(std::vector<ExprPtr>& args) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Lexeme::Kind::name && peek(1).kind == Lexeme::Kind::op &&
          peek(1).text == "=")
        EMILY_THROW(Unsupported, kOp, "keyword arguments (", peek().text,
                    "=...) are not supported");
      args.push_back(expression());
      if (!is_op(")")) expect_op(",");
    }
    ++pos_;
  }
  ExprPtr primary() {
    const Lexeme& t = peek();
    if (t.kind == Lexeme::Kind::string) {
      std::string s;
      while (peek().kind == Lexeme::Kind::string) s += tokens_[pos_++].text;  // "a" "b"
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::literal;
      e->value = Value(std::move(s));
      return e;
    }
    if (t.kind == Lexeme::Kind::integer) {
      ++pos_;
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::literal;
      try {
        e->value = Value(static_cast<std::int64_t>(std::stoll(t.text)));
      } catch (const std::exception&) {
        EMILY_THROW(FormatError, kOp, "integer literal ", t.text, " is out of range");
      }
      return e;
    }
    if (t.kind == Lexeme::Kind::name) {
      ++pos_;
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::literal;
      if (t.text == "true" || t.text == "True")
        e->value = Value(true);
      else if (t.text == "false" || t.text == "False")
        e->value = Value(false);
      else if (t.text == "none" || t.text == "None")
        e->value = Value(None{});
      else {
        e->kind = Expr::Kind::name;
        e->name = t.text;
      }
      return e;
    }
    if (is_op("(")) {
      ++pos_;
      ExprPtr e = expression();
      if (is_op(",")) EMILY_THROW(Unsupported, kOp, "tuples are not supported");
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      ++pos_;
      std::vector<ExprPtr> items;
      while (!is_op("]")) {
        items.push_back(expression());
        if (!is_op("]")) expect_op(",");
      }
      ++pos_;
      return node(Expr::Kind::list, std::move(items));
    }
    if (is_op("{")) EMILY_THROW(Unsupported, kOp, "dict literals are not supported");
    EMILY_THROW(FormatError, kOp, "unexpected '", t.text, "' in an expression");
  }
  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (is_op(".")) {
        ++pos_;
        e = node(Expr::Kind::attr, {e}, expect_name());
      } else if (is_op("[")) {
        ++pos_;
        ExprPtr lo, hi;
        if (!is_op(":")) lo = expression();
        if (is_op(":")) {
          ++pos_;
          if (!is_op("]")) hi = expression();
          if (is_op(":")) EMILY_THROW(Unsupported, kOp, "slices with a step are not supported");
          expect_op("]");
          auto s = std::make_shared<Expr>();
          s->kind = Expr::Kind::slice;
          s->args = {e, lo, hi};
          e = s;
        } else {
          expect_op("]");
          e = node(Expr::Kind::item, {e, lo});
        }
      } else if (is_op("(")) {
        std::vector<ExprPtr> args{e};
        arguments(args);
        e = node(Expr::Kind::call, std::move(args));
      } else {
        return e;
      }
    }
  }

  std::vector<Lexeme> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

// ---- statements -------------------------------------------------------------------------

struct ChatTemplate::Node {
  enum class Kind { text, output, block, branch, loop, set } kind;
  std::string text;                                                 // text; set: variable name
  ExprPtr expr;                                                     // output, set; loop: iterable
  ExprPtr filter;                                                   // loop: "for x in xs if cond"
  std::vector<std::string> names;                                   // loop variables
  std::vector<std::pair<ExprPtr, std::shared_ptr<Node>>> branches;  // if/elif (+ else: null)
  std::vector<std::shared_ptr<Node>> body;                          // block; loop body
  std::shared_ptr<Node> otherwise;                                  // loop else
};

namespace {

using Node = ChatTemplate::Node;
using NodePtr = std::shared_ptr<Node>;

struct Tag {
  enum class Kind { text, output, statement } kind;
  std::string body;
};

// Splits the source into text and tags, applying Jinja's whitespace control as
// transformers configures it: trim_blocks, lstrip_blocks, and no trailing newline.
std::vector<Tag> split_tags(std::string_view src) {
  std::string source(src);
  if (!source.empty() && source.back() == '\n') {
    source.pop_back();
    if (!source.empty() && source.back() == '\r') source.pop_back();
  }
  std::vector<Tag> out;
  bool strip_next = false, trim_newline = false;
  std::size_t i = 0;
  bool starts_line = true;  // the text being pushed begins a line of output
  auto push_text = [&](std::string text) {
    starts_line = out.empty();
    if (strip_next) {
      std::size_t k = text.find_first_not_of(" \t\r\n");
      text.erase(0, k == std::string::npos ? text.size() : k);
    } else if (trim_newline) {
      if (text.rfind("\n", 0) == 0) {
        text.erase(0, 1);
        starts_line = true;
      } else if (text.rfind("\r\n", 0) == 0) {
        text.erase(0, 2);
        starts_line = true;
      }
    }
    strip_next = trim_newline = false;
    out.push_back({Tag::Kind::text, std::move(text)});
  };
  while (i <= source.size()) {
    std::size_t open = source.find('{', i);
    while (open != std::string::npos && open + 1 < source.size() &&
           std::string_view("{%#").find(source[open + 1]) == std::string_view::npos)
      open = source.find('{', open + 1);
    if (open == std::string::npos || open + 1 >= source.size()) {
      push_text(source.substr(i));
      break;
    }
    push_text(source.substr(i, open - i));
    bool at_line_start = starts_line;
    char kind = source[open + 1];
    std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    // Find the closing marker outside string literals.
    std::size_t j = open + 2;
    char quote = 0;
    for (; j + 1 < source.size(); ++j) {
      char c = source[j];
      if (kind != '#' && quote == 0 && (c == '\'' || c == '"'))
        quote = c;
      else if (quote != 0 && c == '\\')
        ++j;
      else if (quote != 0 && c == quote)
        quote = 0;
      else if (quote == 0 && source.compare(j, 2, close) == 0)
        break;
    }
    if (j + 1 >= source.size()) EMILY_THROW(FormatError, kOp, "unclosed '{", kind, "' tag");
    std::string inner = source.substr(open + 2, j - open - 2);
    bool left_minus = !inner.empty() && inner.front() == '-';
    bool left_plus = !inner.empty() && inner.front() == '+';
    bool right_minus = !inner.empty() && inner.back() == '-';
    bool right_plus = !inner.empty() && inner.back() == '+';
    if (left_minus || left_plus) inner.erase(0, 1);
    if ((right_minus || right_plus) && !inner.empty()) inner.pop_back();
    bool block = kind != '{';
    Tag& before = out.back();  // the text just pushed (possibly empty)
    if (left_minus) {
      std::size_t k = before.body.find_last_not_of(" \t\r\n");
      before.body.erase(k == std::string::npos ? 0 : k + 1);
    } else if (block && !left_plus) {
      // lstrip_blocks: blanks between the start of the line and a block tag go.
      std::size_t nl = before.body.rfind('\n');
      std::size_t from = nl == std::string::npos ? 0 : nl + 1;
      bool blank = before.body.find_first_not_of(" \t", from) == std::string::npos;
      if (blank && (nl != std::string::npos || at_line_start)) before.body.erase(from);
    }
    if (kind == '{') out.push_back({Tag::Kind::output, inner});
    if (kind == '%') out.push_back({Tag::Kind::statement, inner});
    strip_next = right_minus;
    trim_newline = block && !right_minus && !right_plus;
    i = j + 2;
    if (i == source.size()) break;
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::vector<Tag> tags) : tags_(std::move(tags)) {}

  NodePtr parse() {
    std::string end;
    NodePtr root = block({}, &end);
    return root;
  }

 private:
  // Statements up to one whose keyword is in `ends` (returned in *end, with its parser
  // positioned after the keyword) or the end of input (when ends is empty).
  NodePtr block(const std::vector<std::string>& ends, std::string* end,
                ExprParser** rest = nullptr) {
    DepthGuard guard(depth_);
    auto b = std::make_shared<Node>();
    b->kind = Node::Kind::block;
    while (pos_ < tags_.size()) {
      const Tag& t = tags_[pos_++];
      if (t.kind == Tag::Kind::text) {
        if (t.body.empty()) continue;
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::text;
        n->text = t.body;
        b->body.push_back(n);
        continue;
      }
      if (t.kind == Tag::Kind::output) {
        ExprParser p(t.body);
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::output;
        n->expr = p.expression();
        p.expect_end();
        b->body.push_back(n);
        continue;
      }
      parsers_.push_back(std::make_unique<ExprParser>(t.body));
      ExprParser& p = *parsers_.back();
      std::string keyword = p.expect_name();
      for (const std::string& e : ends) {
        if (keyword == e) {
          *end = keyword;
          if (rest) *rest = &p;
          return b;
        }
      }
      if (keyword == "if") {
        b->body.push_back(branch(p));
      } else if (keyword == "for") {
        b->body.push_back(loop(p));
      } else if (keyword == "set") {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::set;
        n->text = p.expect_name();
        if (p.is_op(".") || p.is_op(","))
          EMILY_THROW(Unsupported, kOp, "'set' of an attribute or tuple is not supported");
        if (!p.is_op("="))
          EMILY_THROW(Unsupported, kOp,
                      "block 'set' ({% set x %}...{% endset %}) is not supported");
        p.expect_op("=");
        n->expr = p.expression();
        p.expect_end();
        b->body.push_back(n);
      } else if (keyword == "elif" || keyword == "else" || keyword == "endif" ||
                 keyword == "endfor") {
        EMILY_THROW(FormatError, kOp, "'", keyword, "' without its opening statement");
      } else {
        EMILY_THROW(Unsupported, kOp, "the statement '{% ", keyword,
                    " %}' is not supported; this template cannot be rendered faithfully");
      }
    }
    if (!ends.empty()) EMILY_THROW(FormatError, kOp, "missing '{% ", ends.back(), " %}'");
    return b;
  }

  NodePtr branch(ExprParser& p) {
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::branch;
    ExprPtr cond = p.expression();
    p.expect_end();
    for (;;) {
      std::string end;
      ExprParser* rest = nullptr;
      NodePtr body = block({"elif", "else", "endif"}, &end, &rest);
      n->branches.emplace_back(cond, body);
      if (end == "endif") {
        rest->expect_end();
        return n;
      }
      if (end == "else") {
        rest->expect_end();
        NodePtr otherwise = block({"endif"}, &end, &rest);
        rest->expect_end();
        n->branches.emplace_back(nullptr, otherwise);
        return n;
      }
      cond = rest->expression();
      rest->expect_end();
    }
  }

  NodePtr loop(ExprParser& p) {
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::loop;
    n->names.push_back(p.expect_name());
    while (p.is_op(",")) {
      p.expect_op(",");
      n->names.push_back(p.expect_name());
    }
    if (!p.is_name("in")) EMILY_THROW(FormatError, kOp, "expected 'in' in a for statement");
    p.expect_name();
    n->expr = p.logic_or();
    if (p.is_name("if")) {
      p.expect_name();
      n->filter = p.logic_or();
    }
    if (p.is_name("recursive")) EMILY_THROW(Unsupported, kOp, "recursive loops are not supported");
    p.expect_end();
    std::string end;
    ExprParser* rest = nullptr;
    NodePtr body = block({"else", "endfor"}, &end, &rest);
    rest->expect_end();
    n->body = {body};
    if (end == "else") {
      n->otherwise = block({"endfor"}, &end, &rest);
      rest->expect_end();
    }
    return n;
  }

  std::vector<Tag> tags_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::vector<std::unique_ptr<ExprParser>> parsers_;
};

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

ChatTemplate::ChatTemplate(std::string_view source) {
  root_ = Parser(split_tags(source)).parse();
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 const std::map<std::string, std::string>& variables) const {
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
