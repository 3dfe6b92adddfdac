// Atomic output files: write to a temp file in the target's folder, fsync, rename. The temp file is
// removed on error, on a signal, and (after SIGKILL) by the next writer of the same target. Folder
// outputs likewise (AtomicFolder): built in a temp sibling folder and swapped in with one rename.
// Missing parent folders of an output are created (and removed again when the output is abandoned).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace paramkit {

class AtomicFile {
 public:
  // Creates missing parent folders; UsageError when the target is a folder.
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Thread-safe positional write.
  void pwrite(const void* data, size_t n, uint64_t offset);
  // fsync, rename over the target, fsync the folder.
  void commit();
  // Drop the temp file (also done by the destructor when not committed).
  void abandon();

 private:
  std::filesystem::path target_, temp_;
  std::vector<std::filesystem::path> created_dirs_;
  int fd_ = -1;
  bool committed_ = false;
};

// A folder output that appears whole or not at all. Members are written into temp_path(), a folder
// next to the target named like AtomicFile's temps (".NAME.tmp-PID-N", so the next writer of the same
// target removes it after a SIGKILL); commit() swaps it in for the target with one rename
// (renameat2 RENAME_EXCHANGE where the file system has it) and then removes the old folder. Without
// RENAME_EXCHANGE the old folder is first renamed aside: for the moment between the two renames the
// target does not exist (readers see no folder, never a mixed one).
class AtomicFolder {
 public:
  // UsageError when the target exists and is not a folder, is or holds the current folder, or holds
  // subfolders (a folder output replaces only a folder of files, never a tree someone else owns).
  explicit AtomicFolder(std::filesystem::path target);
  ~AtomicFolder();
  AtomicFolder(const AtomicFolder&) = delete;
  AtomicFolder& operator=(const AtomicFolder&) = delete;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  // Hard-links (or copies) into the temp folder each file of the existing target for which keep(name)
  // is true and that the temp folder does not hold yet. Returns the names kept.
  std::vector<std::string> keep_from_target(const std::function<bool(const std::string&)>& keep);
  void commit();
  void abandon();  // removes the temp folder (also done by the destructor when not committed)

 private:
  std::filesystem::path target_, temp_;
  std::vector<std::filesystem::path> created_dirs_;
  bool done_ = false;
};

void write_file_atomic(const std::filesystem::path& target, std::string_view content);

// Removes temp files and temp folders left for this target by writers that no longer run (e.g. after
// SIGKILL).
void remove_stale_temps(const std::filesystem::path& target);

// Reads a whole file; InputError naming the file when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Creates the missing folders of `dir` and returns them, outermost first (empty when dir exists).
std::vector<std::filesystem::path> create_missing_folders(const std::filesystem::path& dir);
// Removes the folders create_missing_folders made, innermost first, as far as they are empty.
void remove_created_folders(const std::vector<std::filesystem::path>& dirs);

// A set of files in one folder that together form one output, made visible by a manifest written last.
class OutputSet {
 public:
  explicit OutputSet(std::filesystem::path dir);
  const std::filesystem::path& dir() const { return dir_; }
  // Record a committed member file (relative name) for the manifest.
  void add(const std::string& name);
  const std::vector<std::string>& files() const { return files_; }
  // Writes manifest_name (content built by the caller, or a paramkit manifest when empty) last.
  void commit(const std::string& manifest_name, const std::string& manifest_content);

 private:
  std::filesystem::path dir_;
  std::vector<std::string> files_;
};

}  // namespace paramkit
