// The JSON reader and writer. Oracle: RFC 8259's grammar and the UTF-8 rules of RFC 3629;
// expected values are written out by hand from those rules (no tolerance: exact values).
#include <limits>

#include "emily/json.h"
#include "support/testing.h"

namespace emily {
namespace {

using json::Kind;
using json::Value;

Value parse(std::string_view text) {
  return json::parse(text, "test.json");
}

// The FormatError message of parsing `text` (empty when it parses).
std::string parse_error(std::string_view text) {
  try {
    parse(text);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Json, ScalarsAndKinds) {
  EXPECT_TRUE(parse("null").is_null());
  EXPECT_EQ(parse(" true ").as_bool(), true);
  EXPECT_EQ(parse("false").as_bool(), false);
  EXPECT_EQ(parse("\"hi\"").as_string(), "hi");
  EXPECT_EQ(parse("-12").as_int(), -12);
  EXPECT_TRUE(parse("-12").is_integer());
  EXPECT_EQ(parse("0.5").as_double(), 0.5);
  EXPECT_FALSE(parse("0.5").is_integer());
  EXPECT_EQ(parse("1e3").as_double(), 1000.0);
  EXPECT_EQ(parse("-0").as_int(), 0);
  EXPECT_EQ(parse("[]").kind(), Kind::array);
  EXPECT_EQ(parse("{}").kind(), Kind::object);
  EXPECT_EQ(json::name(Kind::object), "object");
}

TEST(Json, ObjectsKeepFileOrderAndFindMembers) {
  Value v = parse(R"({"b": 1, "a": [true, null, "x"], "c": {"d": 2.5}})");
  ASSERT_EQ(v.size(), 3u);
  const json::Object& o = v.as_object();
  EXPECT_EQ(o[0].key, "b");
  EXPECT_EQ(o[1].key, "a");
  EXPECT_EQ(o[2].key, "c");
  EXPECT_EQ(v["a"][2].as_string(), "x");
  EXPECT_TRUE(v["a"][1].is_null());
  EXPECT_EQ(v["c"]["d"].as_double(), 2.5);
  EXPECT_EQ(v.find("zz"), nullptr);
  ASSERT_NE(v.find("b"), nullptr);
  EXPECT_EQ(v.find("b")->as_int(), 1);
}

TEST(Json, IntegersAreExactInInt64Range) {
  auto max = std::numeric_limits<std::int64_t>::max();
  auto min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(parse("9223372036854775807").as_int(), max);
  EXPECT_EQ(parse("-9223372036854775808").as_int(), min);
  // One past the range: still a number (the nearest double), but not an integer.
  Value big = parse("9223372036854775808");
  EXPECT_TRUE(big.is_number());
  EXPECT_FALSE(big.is_integer());
  EXPECT_EQ(big.as_double(), 9223372036854775808.0);
  EXPECT_EMILY_ERROR(big.as_int(), FormatError, "json");
  EXPECT_EMILY_ERROR(parse("1.0").as_int(), FormatError, "json");
  EXPECT_EMILY_ERROR(parse("1e2").as_int(), FormatError, "json");
}

TEST(Json, NumberEdges) {
  EXPECT_EQ(parse("1e-400").as_double(), 0.0);  // underflow is zero, as in strtod
  EXPECT_TRUE(std::signbit(parse("-1e-400").as_double()));
  EXPECT_EQ(parse("0.0000000000000000000000000001e-400").as_double(), 0.0);
  EXPECT_NE(parse_error("1e400").find("out of the range"), std::string::npos);
  EXPECT_NE(parse_error(std::string(400, '9')).find("out of the range"), std::string::npos);
  EXPECT_EQ(parse("2.2250738585072014e-308").as_double(), std::numeric_limits<double>::min());
  EXPECT_EQ(parse("1.7976931348623157e308").as_double(), std::numeric_limits<double>::max());
  EXPECT_EQ(parse("1E+2").as_double(), 100.0);
  for (const char* bad : {"01", "-", "+1", ".5", "1.", "1e", "1e+", "0x10", "NaN", "Infinity",
                          "-Infinity", "1.5.2", "--1"}) {
    EXPECT_NE(parse_error(bad), "") << bad;
  }
}

TEST(Json, StringEscapesAndSurrogatePairs) {
  EXPECT_EQ(parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parse(R"("\u0041\u00e9\u4e2d")").as_string(), "A\xC3\xA9\xE4\xB8\xAD");
  // U+1F600 (grinning face) as a surrogate pair, and raw.
  EXPECT_EQ(parse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse("\"\xF0\x9F\x98\x80\"").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse(R"("\u0000")").as_string(), std::string(1, '\0'));
  EXPECT_NE(parse_error(R"("\ud83d")").find("lone high surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ud83dx")").find("lone high surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ude00")").find("lone low surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ud83d\u0041")").find("not followed by a low"), std::string::npos);
  EXPECT_NE(parse_error(R"("\u12")"), "");
  EXPECT_NE(parse_error(R"("\u12G4")"), "");
  EXPECT_NE(parse_error(R"("\x41")").find("invalid escape"), std::string::npos);
  EXPECT_NE(parse_error("\"a\nb\"").find("control character"), std::string::npos);
  EXPECT_NE(parse_error("\"abc").find("unterminated"), std::string::npos);
}

TEST(Json, InvalidUtf8IsRefused) {
  for (const char* bad : {
           "\"\x80\"",              // continuation byte alone
           "\"\xC0\xAF\"",          // overlong '/'
           "\"\xE0\x80\xAF\"",      // overlong, three bytes
           "\"\xED\xA0\x80\"",      // UTF-8-encoded surrogate U+D800
           "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
           "\"\xF5\x80\x80\x80\"",  // invalid lead byte
           "\"\xE4\xB8\"",          // truncated sequence
           "\"\xFF\"",
       }) {
    EXPECT_NE(parse_error(bad).find("invalid UTF-8"), std::string::npos) << parse_error(bad);
  }
  // Bytes outside strings are never valid JSON either.
  EXPECT_NE(parse_error("\xC3\xA9"), "");
}

TEST(Json, ErrorsNameSourceLineAndColumn) {
  std::string e = parse_error("{\n  \"a\": 1,\n  \"b\" 2\n}");
  EXPECT_EQ(e, "[test.json] line 3, column 7: expected ':' after an object key");
  EXPECT_EQ(parse_error("[1, 2"), "[test.json] line 1, column 6: expected ',' or ']' in an array");
  EXPECT_EQ(parse_error(""),
            "[test.json] line 1, column 1: unexpected end of input, expected a value");
  EXPECT_NE(parse_error("[1,]"), "");
  EXPECT_NE(parse_error("{\"a\":1,}"), "");
  EXPECT_NE(parse_error("{'a':1}"), "");
  EXPECT_NE(parse_error("[1] [2]").find("after the JSON value"), std::string::npos);
  EXPECT_NE(parse_error("tru"), "");
  EXPECT_NE(parse_error("nul"), "");
  EXPECT_NE(parse_error("{\"a\"}"), "");
  EXPECT_NE(parse_error("// comment\n1"), "");
}

TEST(Json, NestingBombIsRefusedAtTheDepthLimit) {
  std::string ok = std::string(json::kMaxDepth, '[') + std::string(json::kMaxDepth, ']');
  EXPECT_TRUE(parse(ok).is_array());
  std::string deep = std::string(json::kMaxDepth + 1, '[') + std::string(json::kMaxDepth + 1, ']');
  EXPECT_NE(parse_error(deep).find("nesting deeper than 512"), std::string::npos);
  // A bomb that never closes, a million levels: refused before the stack runs out.
  std::string bomb(1'000'000, '[');
  EXPECT_NE(parse_error(bomb).find("nesting deeper"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100'000; ++i) objects += "{\"a\":";
  EXPECT_NE(parse_error(objects).find("nesting deeper"), std::string::npos);
}

// Duplicate keys are refused: RFC 8259 leaves their meaning open, and a file that two
// readers understand differently (first wins, last wins) is how lying headers get in.
TEST(Json, DuplicateKeysAreRefused) {
  EXPECT_NE(parse_error(R"({"a": 1, "b": 2, "a": 3})").find("duplicate key \"a\""),
            std::string::npos);
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_TRUE(parse(big.substr(0, big.size() - 1) + "}").is_object());
  EXPECT_NE(parse_error(big + "\"k57\":0}").find("duplicate key \"k57\""), std::string::npos);
  // The same key in different objects is fine.
  EXPECT_EQ(parse(R"([{"a":1},{"a":2}])")[1]["a"].as_int(), 2);
}

TEST(Json, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(parse("\xEF\xBB\xBF{\"a\":1}")["a"].as_int(), 1);
}

TEST(Json, WrongKindAndMissingKeyErrors) {
  Value v = parse(R"({"n": 1, "s": "x", "a": [1]})");
  EXPECT_EMILY_ERROR(v["missing"], FormatError, "json");
  try {
    (void)v.at("vocab_size");
    ADD_FAILURE() << "no error for a missing key";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "[json] missing key \"vocab_size\"");
  }
  EXPECT_EMILY_ERROR(v["n"].as_string(), FormatError, "json");
  EXPECT_EMILY_ERROR(v["s"].as_int(), FormatError, "json");
  EXPECT_EMILY_ERROR(v["s"].as_bool(), FormatError, "json");
  EXPECT_EMILY_ERROR(v["a"].as_object(), FormatError, "json");
  EXPECT_EMILY_ERROR(v["a"][1], FormatError, "json");
  EXPECT_EMILY_ERROR(v["n"].size(), FormatError, "json");
  EXPECT_EMILY_ERROR(v["a"]["k"], FormatError, "json");
  EXPECT_EQ(v["a"].find("k"), nullptr);
}

TEST(Json, DumpIsCompactEscapedAndReadsBack) {
  Value v = json::Object{{"name", "a\"b\\\n\x01"},
                         {"n", 42},
                         {"x", 0.1},
                         {"whole", 3.0},
                         {"list", json::Array{true, false, nullptr, -7}},
                         {"utf8", "\xC3\xA9\xF0\x9F\x98\x80"},
                         {"empty", json::Object{}}};
  std::string text = json::dump(v);
  EXPECT_EQ(text,
            "{\"name\":\"a\\\"b\\\\\\n\\u0001\",\"n\":42,\"x\":0.1,\"whole\":3.0,"
            "\"list\":[true,false,null,-7],\"utf8\":\"\xC3\xA9\xF0\x9F\x98\x80\",\"empty\":{}}");
  Value back = parse(text);
  EXPECT_EQ(back, v);
  EXPECT_FALSE(back["whole"].is_integer());
  EXPECT_EQ(back["x"].as_double(), 0.1);  // shortest round-trip text
}

TEST(Json, DumpRefusesWhatJsonCannotHold) {
  EXPECT_EMILY_ERROR(json::dump(Value(std::numeric_limits<double>::quiet_NaN())), ValueError,
                     "json");
  EXPECT_EMILY_ERROR(json::dump(Value(std::numeric_limits<double>::infinity())), ValueError,
                     "json");
  EXPECT_EMILY_ERROR(json::dump(Value("\xFF")), ValueError, "json");
}

TEST(Json, Builders) {
  Value o;
  o.set("a", 1);
  o.set("b", "two");
  o.set("a", 3);  // replaces, keeps the position
  EXPECT_EQ(json::dump(o), "{\"a\":3,\"b\":\"two\"}");
  Value a;
  a.push_back(1);
  a.push_back(json::Array{});
  EXPECT_EQ(json::dump(a), "[1,[]]");
  EXPECT_EMILY_ERROR(a.set("k", 1), ValueError, "json");
  EXPECT_EMILY_ERROR(o.push_back(1), ValueError, "json");
  EXPECT_EQ(Value(1), Value(1.0));
  EXPECT_NE(Value(1), Value("1"));
}

TEST(Json, ParseFileNamesThePath) {
  EXPECT_EMILY_ERROR(json::parse_file("/nonexistent/config.json"), FormatError,
                     "/nonexistent/config.json");
}

}  // namespace
}  // namespace emily
