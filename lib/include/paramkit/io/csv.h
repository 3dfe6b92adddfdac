// CSV tables with a header row: numeric and categorical columns, NA/empty as missing, RFC 4180 quoting.
// A column is numeric when every non-missing cell is a number; a non-finite number in it (nan, inf,
// 1e400) is an input error naming the file, column and line (NA or an empty cell marks a missing value).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace paramkit {

struct Column {
  std::string name;
  bool numeric = true;
  std::vector<double> values;        // numeric columns; NaN where missing
  std::vector<std::string> strings;  // categorical columns; "" where missing
  std::vector<uint8_t> missing;      // 1 where the cell is NA or empty
  size_t size() const { return missing.size(); }
  size_t missing_count() const;
  // Sorted distinct non-missing values of a categorical column.
  std::vector<std::string> levels() const;
};

struct Table {
  std::string source;
  std::vector<Column> columns;
  size_t rows = 0;
  std::vector<size_t> lines;  // the file line of each row (header = line 1); empty for built tables
  // Where row r is, for messages: "data row 4 (line 5)" (or "data row 4" for a built table).
  std::string where(size_t r) const;
  bool has(std::string_view name) const;
  // InputError naming the file and the column when absent.
  const Column& col(std::string_view name) const;
  Column& col(std::string_view name);
  // A numeric column; InputError naming the first cell that is not a number when it is categorical.
  const Column& numeric(std::string_view name) const;
  // Rows where none of the named columns is missing.
  std::vector<size_t> complete_rows(const std::vector<std::string>& names) const;
  // Keep only these rows.
  Table select_rows(const std::vector<size_t>& rows) const;
};

struct CsvOptions {
  char delimiter = ',';
  std::vector<std::string> na_values = {"NA", ""};
  // Columns forced categorical even when every value parses as a number.
  std::vector<std::string> categorical;
};

Table parse_csv(std::string_view text, const std::string& source, const CsvOptions& options = {});
Table read_csv(const std::filesystem::path& path, const CsvOptions& options = {});
std::string format_csv(const Table& table);
// Writes atomically.
void write_csv(const std::filesystem::path& path, const Table& table);

Column numeric_column(std::string name, std::vector<double> values);
Column categorical_column(std::string name, std::vector<std::string> values);

}  // namespace paramkit
