// CSV: quoting, NA, typing, errors with line numbers, and the veteran data set (137 rows).
#include <doctest/doctest.h>

#include <cmath>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/csv.h"

using namespace paramkit;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_csv(text, "t.csv");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("numeric, categorical and missing values") {
  Table t = parse_csv("time,group,x\n1.5,a,NA\n2,\"b, c\",3\r\n,a,4e-1\n", "t.csv");
  CHECK(t.rows == 3);
  CHECK(t.col("time").numeric);
  CHECK(t.col("time").values[0] == 1.5);
  CHECK(t.col("time").missing[2] == 1);
  CHECK(std::isnan(t.col("time").values[2]));
  CHECK_FALSE(t.col("group").numeric);
  CHECK(t.col("group").strings[1] == "b, c");
  CHECK(t.col("group").levels() == std::vector<std::string>{"a", "b, c"});
  CHECK(t.col("x").missing_count() == 1);
  CHECK(t.col("x").values[2] == doctest::Approx(0.4));
  CHECK(t.complete_rows({"time", "x"}) == std::vector<size_t>{1});
  Table s = t.select_rows({1});
  CHECK(s.rows == 1);
  CHECK(s.col("group").strings[0] == "b, c");
}

TEST_CASE("quotes, embedded newlines, BOM and forced categorical columns") {
  Table t = parse_csv("\xEF\xBB\xBF\"id\",\"note\"\n1,\"line1\nline2 \"\"quoted\"\"\"\n2,plain\n", "t.csv",
                      CsvOptions{',', {"NA", ""}, {"id"}});
  CHECK(t.rows == 2);
  CHECK(t.columns[0].name == "id");
  CHECK_FALSE(t.col("id").numeric);
  CHECK(t.col("note").strings[0] == "line1\nline2 \"quoted\"");
  Table back = parse_csv(format_csv(t), "back.csv", CsvOptions{',', {"NA", ""}, {"id"}});
  CHECK(back.col("note").strings == t.col("note").strings);
}

TEST_CASE("errors name the file, line and column") {
  CHECK(error_of("a,b\n1,2\n3\n").find("t.csv: line 3: has 1 fields, the header has 2") != std::string::npos);
  CHECK(error_of("a,b\n1,2,3\n").find("line 2") != std::string::npos);
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK(error_of("a,a\n1,2\n").find("duplicate column name 'a'") != std::string::npos);
  CHECK(error_of("a,\n1,2\n").find("empty column name") != std::string::npos);
  CHECK(error_of("a\n\"open\n").find("unterminated") != std::string::npos);
  CHECK(error_of("a\n\"x\"y\n").find("after a closing quote") != std::string::npos);
  CHECK(error_of(std::string("\"a\0b\"\n1\n", 8)).find("NUL byte") != std::string::npos);  // found by fuzzing
  Table t = parse_csv("a,b\n1,x\n", "t.csv");
  CHECK_THROWS_WITH_AS(t.col("c"), doctest::Contains("column 'c': not found (columns: a, b)"), InputError);
  CHECK_THROWS_WITH_AS(t.numeric("b"), doctest::Contains("column 'b', data row 1 (line 2): expected a number, got 'x'"), InputError);
}

TEST_CASE("veteran.csv from R's survival package") {
  Table t = read_csv(paramkit::test::data_file("survival/veteran.csv"));
  CHECK(t.rows == 137);
  CHECK(t.columns.size() == 8);
  CHECK(t.col("celltype").levels() == std::vector<std::string>{"adeno", "large", "smallcell", "squamous"});
  double sum = 0;
  for (double v : t.numeric("time").values) sum += v;
  CHECK(sum == 16663);  // sum(veteran$time) in R
  CHECK(t.numeric("status").values[0] == 1);
}

TEST_CASE("non-finite numbers in a numeric column are an error naming the column and the file's line") {
  // The header is line 1; a quoted field with a newline makes the file's line differ from the row index.
  CHECK(error_of("time,x\n1,1\n2,inf\n").find("t.csv: column 'x', data row 2 (line 3): 'inf' is not a finite number") !=
        std::string::npos);
  CHECK(error_of("note,x\n\"a\nb\",1\nc,nan\n").find("column 'x', data row 2 (line 4): 'nan'") != std::string::npos);
  CHECK(error_of("x\n1\n-inf\n").find("line 3") != std::string::npos);
  CHECK(error_of("x\n1\n1e400\n").find("'1e400' is not a finite number") != std::string::npos);
  CHECK(error_of("x\n-1e400\n2\n").find("line 2") != std::string::npos);
  CHECK(error_of("x\nNaN\n").find("not a finite number") != std::string::npos);
  // NA and empty cells stay missing values; a tiny number that underflows is a number.
  Table t = parse_csv("x,y\nNA,1e-400\n,2\n3,3\n", "t.csv");
  CHECK(t.col("x").numeric);
  CHECK(t.col("x").missing_count() == 2);
  CHECK(t.col("y").numeric);
  CHECK(t.col("y").values[0] == doctest::Approx(0.0));
  // In a column of text, "nan" and "inf" are categories like any other word.
  Table u = parse_csv("g\nnan\ninf\nabc\n", "t.csv");
  CHECK_FALSE(u.col("g").numeric);
  CHECK(u.col("g").levels() == std::vector<std::string>{"abc", "inf", "nan"});
}

TEST_CASE("a column that should be numeric names the first cell that is not a number, at its line") {
  Table t = parse_csv("time,x\n1,1\n2,2\nabc,3\n4,4\n", "t.csv");
  CHECK_THROWS_WITH_AS(t.numeric("time"), doctest::Contains("t.csv: column 'time', data row 3 (line 4): expected a number, got 'abc'"),
                       InputError);
  // Rows kept by select_rows keep their lines.
  Table s = t.select_rows({2, 3});
  CHECK(s.lines == std::vector<size_t>{4, 5});
  CHECK_THROWS_WITH_AS(s.numeric("time"), doctest::Contains("data row 1 (line 4)"), InputError);
  CHECK(Table{}.where(0) == "data row 1");
}
