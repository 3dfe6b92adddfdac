// CSV parsing (RFC 4180 quoting, CRLF, NA), column typing, writing.
#include "paramkit/io/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"

namespace paramkit {
namespace {

// Parses a whole cell as a number. Non-finite results (nan, inf, or 1e400 overflowing) parse, so that
// the caller can tell a non-finite number (an error in a numeric column) from text (a category).
bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  // Fast path: plain decimal numbers (std::from_chars is several times faster than strtod); anything
  // else (a leading '+', hex, "inf", out of range, trailing blanks) goes through strtod.
  {
    const char* b = s.data();
    const char* e = b + s.size();
    auto [p, ec] = std::from_chars(b, e, out);
    if (ec == std::errc() && p == e && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || b[0] == '.')) return true;
  }
  const char* b = s.c_str();
  char* e = nullptr;
  out = std::strtod(b, &e);  // overflow gives +-HUGE_VAL (infinite): reported as non-finite
  if (e == b) return false;
  while (*e == ' ' || *e == '\t') ++e;
  return *e == '\0';
}

std::string trim(std::string s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// Splits text into records of fields; quoted fields may hold delimiters, quotes ("") and newlines.
std::vector<std::vector<std::string>> split_records(std::string_view text, char delim, const std::string& source,
                                                    std::vector<size_t>& line_of) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, was_quoted = false;
  size_t line = 1, row_line = 1;
  size_t i = 0;
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    i = 3;  // UTF-8 byte order mark
  auto end_field = [&] {
    row.push_back(was_quoted ? field : trim(field));
    field.clear();
    was_quoted = false;
  };
  auto end_row = [&] {
    if ((rows.size() & 0xFFF) == 0) check_stop();  // a large file: one signal ends the read
    end_field();
    bool blank = row.size() == 1 && row[0].empty();
    if (!blank) {
      rows.push_back(std::move(row));
      line_of.push_back(row_line);
    }
    row.clear();
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\0') throw InputError(source, "line " + std::to_string(line), "NUL byte (binary file?)");
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (!trim(field).empty()) throw InputError(source, "line " + std::to_string(line), "quote inside an unquoted field");
      field.clear();
      quoted = was_quoted = true;
    } else if (c == delim) {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
      row_line = line;
    } else {
      if (was_quoted) throw InputError(source, "line " + std::to_string(line), "text after a closing quote");
      field += c;
    }
  }
  if (quoted) throw InputError(source, "line " + std::to_string(row_line), "unterminated quoted field");
  if (!field.empty() || !row.empty() || was_quoted) end_row();
  return rows;
}
}  // namespace

size_t Column::missing_count() const { return static_cast<size_t>(std::count(missing.begin(), missing.end(), 1)); }

std::vector<std::string> Column::levels() const {
  std::set<std::string> s;
  for (size_t i = 0; i < strings.size(); ++i)
    if (!missing[i]) s.insert(strings[i]);
  return {s.begin(), s.end()};
}

bool Table::has(std::string_view name) const {
  return std::any_of(columns.begin(), columns.end(), [&](const Column& c) { return c.name == name; });
}

const Column& Table::col(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return c;
  std::string have;
  for (const auto& c : columns) have += (have.empty() ? "" : ", ") + c.name;
  throw InputError(source, "column '" + std::string(name) + "'", "not found (columns: " + have + ")");
}

Column& Table::col(std::string_view name) { return const_cast<Column&>(static_cast<const Table*>(this)->col(name)); }

std::string Table::where(size_t r) const {
  const std::string row = "data row " + std::to_string(r + 1);
  return r < lines.size() ? row + " (line " + std::to_string(lines[r]) + ")" : row;
}

const Column& Table::numeric(std::string_view name) const {
  const Column& c = col(name);
  if (!c.numeric) {
    // The first cell that is not a number (the column may hold numbers in most rows).
    double v;
    for (size_t i = 0; i < c.size(); ++i)
      if (!c.missing[i] && !parse_double(c.strings[i], v))
        throw InputError(source, "column '" + c.name + "', " + where(i), "expected a number, got '" + c.strings[i] + "'");
    for (size_t i = 0; i < c.size(); ++i)
      if (!c.missing[i]) throw InputError(source, "column '" + c.name + "', " + where(i), "expected a number, got '" + c.strings[i] + "'");
  }
  return c;
}

std::vector<size_t> Table::complete_rows(const std::vector<std::string>& names) const {
  std::vector<const Column*> cs;
  for (const auto& n : names) cs.push_back(&col(n));
  std::vector<size_t> r;
  for (size_t i = 0; i < rows; ++i)
    if (std::none_of(cs.begin(), cs.end(), [&](const Column* c) { return c->missing[i] != 0; })) r.push_back(i);
  return r;
}

Table Table::select_rows(const std::vector<size_t>& keep) const {
  Table t;
  t.source = source;
  t.rows = keep.size();
  if (!lines.empty())
    for (size_t i : keep) t.lines.push_back(lines[i]);
  for (const auto& c : columns) {
    check_stop();  // a column of millions of rows at a time
    Column d;
    d.name = c.name;
    d.numeric = c.numeric;
    for (size_t i : keep) {
      d.missing.push_back(c.missing[i]);
      if (c.numeric) d.values.push_back(c.values[i]);
      else d.strings.push_back(c.strings[i]);
    }
    t.columns.push_back(std::move(d));
  }
  return t;
}

Table parse_csv(std::string_view text, const std::string& source, const CsvOptions& options) {
  std::vector<size_t> line_of;
  auto recs = split_records(text, options.delimiter, source, line_of);
  if (recs.empty()) throw InputError(source, "header", "the file is empty");
  Table t;
  t.source = source;
  const auto& header = recs[0];
  std::set<std::string> seen;
  for (const auto& h : header) {
    if (h.empty()) throw InputError(source, "header", "empty column name");
    if (!seen.insert(h).second) throw InputError(source, "header", "duplicate column name '" + h + "'");
    Column c;
    c.name = h;
    t.columns.push_back(std::move(c));
  }
  t.rows = recs.size() - 1;
  t.lines.assign(line_of.begin() + 1, line_of.end());
  for (size_t r = 1; r < recs.size(); ++r)
    if (recs[r].size() != header.size())
      throw InputError(source, "line " + std::to_string(line_of[r]),
                       "has " + std::to_string(recs[r].size()) + " fields, the header has " + std::to_string(header.size()));
  for (size_t j = 0; j < header.size(); ++j) {
    check_stop();
    Column& c = t.columns[j];
    bool forced = std::find(options.categorical.begin(), options.categorical.end(), c.name) != options.categorical.end();
    c.missing.resize(t.rows);
    std::vector<double> vals(t.rows, std::numeric_limits<double>::quiet_NaN());
    bool numeric = !forced;
    for (size_t r = 0; r < t.rows; ++r) {
      const std::string& s = recs[r + 1][j];
      if (std::find(options.na_values.begin(), options.na_values.end(), s) != options.na_values.end()) {
        c.missing[r] = 1;
        continue;
      }
      if (numeric && !parse_double(s, vals[r])) numeric = false;
    }
    c.numeric = numeric;
    if (numeric) {
      // Every cell is a number: one that is not finite is an error, not a category or a missing value.
      for (size_t r = 0; r < t.rows; ++r)
        if (!c.missing[r] && !std::isfinite(vals[r]))
          throw InputError(source, "column '" + c.name + "', " + t.where(r),
                           "'" + recs[r + 1][j] + "' is not a finite number (NA or an empty cell marks a missing value)");
      c.values = std::move(vals);
    } else {
      c.strings.resize(t.rows);
      for (size_t r = 0; r < t.rows; ++r)
        if (!c.missing[r]) c.strings[r] = recs[r + 1][j];
    }
  }
  return t;
}

Table read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  return parse_csv(read_file(path), path.string(), options);
}

std::string format_csv(const Table& table) {
  auto quote = [](const std::string& s) {
    // Quote what the parser would otherwise split, unquote-trim or read as missing.
    bool plain = !s.empty() && s.find_first_of(",\"\n\r") == std::string::npos && s != "NA" && s.front() != ' ' &&
                 s.front() != '\t' && s.back() != ' ' && s.back() != '\t' && s.rfind("\xEF\xBB\xBF", 0) != 0;
    if (plain) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  for (size_t j = 0; j < table.columns.size(); ++j) out += (j ? "," : "") + quote(table.columns[j].name);
  out += "\n";
  char buf[64];
  for (size_t r = 0; r < table.rows; ++r) {
    if ((r & 0xFFF) == 0) check_stop();  // millions of rows: one signal ends the write
    for (size_t j = 0; j < table.columns.size(); ++j) {
      const Column& c = table.columns[j];
      if (j) out += ",";
      if (c.missing[r]) out += "NA";
      else if (c.numeric) {
        std::snprintf(buf, sizeof buf, "%.17g", c.values[r]);
        out += buf;
      } else out += quote(c.strings[r]);
    }
    out += "\n";
  }
  return out;
}

void write_csv(const std::filesystem::path& path, const Table& table) { write_file_atomic(path, format_csv(table)); }

Column numeric_column(std::string name, std::vector<double> values) {
  Column c;
  c.name = std::move(name);
  c.numeric = true;
  c.missing.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) c.missing[i] = std::isnan(values[i]) ? 1 : 0;
  c.values = std::move(values);
  return c;
}

Column categorical_column(std::string name, std::vector<std::string> values) {
  Column c;
  c.name = std::move(name);
  c.numeric = false;
  c.missing.resize(values.size());
  c.strings = std::move(values);
  return c;
}

}  // namespace paramkit
