// Core: JSON checks, atomic files (commit, abandon, stale temp cleanup), RNG reference values,
// provenance time.
#include <doctest/doctest.h>

#include <filesystem>
#include <iterator>
#include <set>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/core/jobs.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/subprocess.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"

using namespace paramkit;
namespace fs = std::filesystem;

TEST_CASE("JSON: duplicate keys at any depth and invalid UTF-8 are rejected") {
  CHECK(parse_json(R"({"a":1,"b":{"c":2}})", "x.json")["b"]["c"] == 2);
  CHECK_THROWS_WITH_AS(parse_json(R"({"a":1,"a":2})", "x.json"), doctest::Contains("x.json: a: duplicate key"), InputError);
  CHECK_THROWS_WITH_AS(parse_json(R"({"b":{"c":1,"c":2}})", "x.json"), doctest::Contains("duplicate key"), InputError);
  CHECK(parse_json(R"([{"c":1},{"c":2}])", "x.json").size() == 2);  // same key in sibling objects is fine
  CHECK_THROWS_AS(parse_json("{\"a\":\"\xc3\x28\"}", "x.json"), InputError);
  CHECK_THROWS_AS(parse_json("{", "x.json"), InputError);
  CHECK_THROWS_WITH_AS(parse_json(std::string("{}\0garbage", 10), "x.json"), doctest::Contains("NUL byte"), InputError);  // found by fuzzing
  CHECK_THROWS_WITH_AS(json_field(nlohmann::json::object(), "k", "x.json"), doctest::Contains("x.json: k: missing"), InputError);
}

TEST_CASE("atomic file: commit replaces, abandon keeps the old file, no temp left") {
  auto dir = paramkit::test::scratch("atomic");
  write_file_atomic(dir / "f.txt", "one");
  CHECK(paramkit::test::slurp(dir / "f.txt") == "one");
  {
    AtomicFile f(dir / "f.txt");
    f.write("two-partial");
    CHECK(fs::exists(f.temp_path()));
    // destroyed without commit (an error path)
  }
  CHECK(paramkit::test::slurp(dir / "f.txt") == "one");
  {
    AtomicFile f(dir / "f.txt");
    f.write("three");
    f.commit();
  }
  CHECK(paramkit::test::slurp(dir / "f.txt") == "three");
  int entries = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++entries;
  CHECK(entries == 1);
  // A folder as the target is refused by name.
  CHECK_THROWS_WITH_AS(AtomicFile f(dir), doctest::Contains("is a folder"), UsageError);
}

TEST_CASE("atomic file: missing parent folders are created, and removed again when abandoned") {
  auto dir = paramkit::test::scratch("atomic-parents");
  write_file_atomic(dir / "a" / "b" / "f.txt", "x");
  CHECK(paramkit::test::slurp(dir / "a" / "b" / "f.txt") == "x");
  {
    AtomicFile f(dir / "c" / "d" / "g.txt");
    CHECK(fs::is_directory(dir / "c" / "d"));
    f.write("partial");
  }  // abandoned: the folders it made go too
  CHECK_FALSE(fs::exists(dir / "c"));
  // A parent that is a file cannot be created.
  paramkit::test::spit(dir / "plain", "file");
  CHECK_THROWS_AS(AtomicFile(dir / "plain" / "x.txt"), UsageError);
}

TEST_CASE("atomic folder: appears whole, replaces an old folder keeping its other files, abandon leaves it") {
  auto dir = paramkit::test::scratch("atomic-folder");
  const fs::path out = dir / "deep" / "out";
  {
    AtomicFolder f(out);
    write_file_atomic(f.temp_path() / "w.bin", "new-1");
    CHECK_FALSE(fs::exists(out));  // nothing visible before commit
    f.commit();
  }
  CHECK(paramkit::test::slurp(out / "w.bin") == "new-1");
  write_file_atomic(out / "config.json", "{}");
  {
    AtomicFolder f(out);
    write_file_atomic(f.temp_path() / "w.bin", "new-2");
    CHECK(f.keep_from_target([](const std::string& n) { return n != "w.bin"; }) == std::vector<std::string>{"config.json"});
    CHECK(paramkit::test::slurp(out / "w.bin") == "new-1");  // the old folder until commit
    f.commit();
  }
  CHECK(paramkit::test::slurp(out / "w.bin") == "new-2");
  CHECK(paramkit::test::slurp(out / "config.json") == "{}");
  {
    AtomicFolder f(out);
    write_file_atomic(f.temp_path() / "w.bin", "never");
  }  // abandoned (an error or a signal)
  CHECK(paramkit::test::slurp(out / "w.bin") == "new-2");
  // No temp folder left beside it.
  CHECK(std::distance(fs::directory_iterator(out.parent_path()), fs::directory_iterator()) == 1);
  {
    AtomicFolder f(dir / "fresh" / "x");
  }
  CHECK_FALSE(fs::exists(dir / "fresh"));  // folders made for an abandoned output are removed
}

TEST_CASE("atomic folder: without renameat2, the old folder goes aside and the new one in") {
  auto dir = paramkit::test::scratch("atomic-folder-fallback");
  setenv("PARAMKIT_TEST_NO_RENAMEAT2", "1", 1);
  for (const char* content : {"first", "second"}) {
    AtomicFolder f(dir / "out");
    write_file_atomic(f.temp_path() / "w.bin", content);
    f.commit();
    CHECK(paramkit::test::slurp(dir / "out" / "w.bin") == content);
  }
  unsetenv("PARAMKIT_TEST_NO_RENAMEAT2");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // nothing aside left
}

TEST_CASE("atomic folder: refuses what it must not replace, removes dead writers' temp folders") {
  auto dir = paramkit::test::scratch("atomic-folder-refuse");
  paramkit::test::spit(dir / "file", "x");
  CHECK_THROWS_WITH_AS(AtomicFolder(dir / "file"), doctest::Contains("is not a folder"), UsageError);
  fs::create_directories(dir / "tree" / "sub");
  CHECK_THROWS_WITH_AS(AtomicFolder(dir / "tree"), doctest::Contains("holds the folder 'sub'"), UsageError);
  CHECK_THROWS_AS(AtomicFolder("."), UsageError);
  CHECK_THROWS_AS(AtomicFolder("/"), UsageError);
  // A temp folder of a writer killed by SIGKILL (pid 2^22+1 does not exist) goes at the next write.
  fs::create_directories(dir / ".out.tmp-4194305-0");
  paramkit::test::spit(dir / ".out.tmp-4194305-0" / "model-00001-of-00004.safetensors", "half");
  AtomicFolder f(dir / "out");
  CHECK_FALSE(fs::exists(dir / ".out.tmp-4194305-0"));
  f.commit();
  CHECK(fs::is_directory(dir / "out"));
}

TEST_CASE("atomic file: temp files of dead writers are removed by the next writer") {
  auto dir = paramkit::test::scratch("atomic-stale");
  // pid 2^22+1 is above Linux's pid_max default range, so no such process exists.
  fs::path stale = dir / ".f.txt.tmp-4194305-0";
  paramkit::test::spit(stale, "half");
  fs::path other = dir / ".g.txt.tmp-4194305-0";
  paramkit::test::spit(other, "other target");
  write_file_atomic(dir / "f.txt", "ok");
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(other));  // belongs to another target
}

TEST_CASE("output set: manifest written last and checked") {
  auto dir = paramkit::test::scratch("outset");
  OutputSet set(dir / "out");
  write_file_atomic(dir / "out" / "a.bin", "a");
  set.add("a.bin");
  set.add("b.bin");
  CHECK_THROWS_AS(set.commit("manifest.json", "{}"), Error);
  CHECK_FALSE(fs::exists(dir / "out" / "manifest.json"));
  write_file_atomic(dir / "out" / "b.bin", "b");
  set.commit("manifest.json", "{}");
  CHECK(fs::exists(dir / "out" / "manifest.json"));
}

TEST_CASE("rng: SplitMix64 reference output, uniform ranges, permutations") {
  Rng r;
  r.set_state(0);
  // The first outputs of SplitMix64 from state 0 (Vigna's reference implementation).
  CHECK(r.next_u64() == 0xE220A8397B1DCDAFULL);
  CHECK(r.next_u64() == 0x6E789E6AA1B965F4ULL);
  Rng a(42), b(42), c(43);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  Rng u(1);
  for (int i = 0; i < 1000; ++i) {
    double x = u.uniform();
    CHECK((x >= 0.0 && x < 1.0));
    CHECK(u.below(7) < 7);
  }
  Rng p(5);
  auto perm = permutation(1000, p);
  std::set<int64_t> s(perm.begin(), perm.end());
  CHECK(s.size() == 1000);
  CHECK(*s.begin() == 0);
  CHECK(*s.rbegin() == 999);
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += perm[i] == i;
  CHECK(fixed < 20);  // a shuffle, not the identity (expected ~1 fixed point)
}

TEST_CASE("provenance time honours SOURCE_DATE_EPOCH") {
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  CHECK(utc_timestamp() == "2023-11-14T22:13:20Z");
  unsetenv("SOURCE_DATE_EPOCH");
  CHECK(utc_timestamp().size() == 20);
  Provenance p;
  p.tool = "t";
  p.seed = 3;
  p.config = {{"x", 1}};
  Provenance q = Provenance::from_json(p.to_json());
  CHECK(q.tool == "t");
  CHECK(q.seed == 3);
  CHECK(q.config["x"] == 1);
}

TEST_CASE("run_command: stdin in, stdout out, large inputs, failures and output caps named") {
  using paramkit::CommandOptions;
  CHECK(paramkit::run_command("printf 'a\\nb\\n'") == "a\nb\n");
  CommandOptions o;
  o.input = std::string(3u << 20, 'x') + "\n";  // larger than a pipe buffer: written while reading
  CHECK(paramkit::run_command("wc -c", o).find(std::to_string((3u << 20) + 1)) != std::string::npos);
  o.input = "line 1\nline 2\n";
  CHECK(paramkit::run_command("cat", o) == o.input);
  CHECK(paramkit::run_command("head -c 1", o) == "l");  // stops reading early: not an error
  // A command that never reads a large input: the pipe breaks, the tool must not die of SIGPIPE.
  CommandOptions big;
  big.input = std::string(4u << 20, 'y');
  CHECK(paramkit::run_command("exit 0", big).empty());
  big.what = "--reward cmd";
  CHECK_THROWS_WITH_AS(paramkit::run_command("exit 3", big), doctest::Contains("failed (status 3)"), paramkit::Error);
  CommandOptions w;
  w.what = "--reward";
  CHECK_THROWS_WITH_AS(paramkit::run_command("exit 3", w), doctest::Contains("--reward failed (status 3)"), paramkit::Error);
  w.max_output = 1000;
  CHECK_THROWS_WITH_AS(paramkit::run_command("yes", w), doctest::Contains("more than 1000 bytes"), paramkit::Error);
  w.keep_tail = true;
  CHECK(paramkit::run_command("seq 1 100000", w).size() <= 1000);
  CHECK(paramkit::shell_quote("it's") == "'it'\\''s'");
}

TEST_CASE("run_jobs: parallel jobs, done ones skipped, the first failure named with its log, exit 2 as a usage error") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "paramkit-test-jobs";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<paramkit::Job> jobs;
  for (int i = 0; i < 5; ++i) {
    paramkit::Job j;
    j.name = "j" + std::to_string(i);
    j.output = dir / (j.name + ".out");
    j.log = dir / (j.name + ".log");
    j.argv = {"sh", "-c", "echo started >&2; echo " + std::to_string(i) + " > " + j.output.string()};
    jobs.push_back(j);
  }
  std::vector<size_t> done;
  auto r = paramkit::run_jobs(jobs, 3, [&](const paramkit::Job&, size_t i) { done.push_back(i); });
  CHECK(r.ran == 5);
  CHECK(r.done_before == 0);
  CHECK(done.size() == 5);
  CHECK(paramkit::last_line(dir / "j3.log") == "started");
  CHECK(paramkit::last_line(dir / "j3.out") == "3");
  fs::remove(dir / "j1.out");
  r = paramkit::run_jobs(jobs, 2);
  CHECK(r.ran == 1);  // only the one whose output is gone
  CHECK(r.done_before == 4);
  jobs[1].argv = {"sh", "-c", "echo 'bad flag --x' >&2; exit 2"};
  fs::remove(dir / "j1.out");
  CHECK_THROWS_WITH_AS(paramkit::run_jobs(jobs, 2), doctest::Contains("job j1 failed (exit status 2): bad flag --x"), paramkit::UsageError);
  jobs[1].argv = {"sh", "-c", "echo 'out of memory' >&2; exit 1"};
  try {
    paramkit::run_jobs(jobs, 2);
    CHECK(false);
  } catch (const paramkit::UsageError&) {
    CHECK(false);
  } catch (const paramkit::Error& e) {
    CHECK(std::string(e.what()).find("out of memory") != std::string::npos);
  }
  CHECK_THROWS_AS(paramkit::run_jobs(jobs, 0), paramkit::UsageError);
  fs::remove_all(dir);
}
