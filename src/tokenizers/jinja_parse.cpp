// The chat-template parser: whitespace control and tags, then expressions and statements
// into the trees of jinja.h.
#include <cctype>

#include "emily/error.h"
#include "tokenizers/jinja.h"

namespace emily::jinja {
namespace {

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

}  // namespace

std::shared_ptr<const ChatTemplate::Node> parse(std::string_view source) {
  return Parser(split_tags(source)).parse();
}

}  // namespace emily::jinja
