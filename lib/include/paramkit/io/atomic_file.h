// Atomic output files: write to a temp file in the target's folder, fsync, rename. The temp file is
// removed on error, on a signal, and (after SIGKILL) by the next writer of the same target.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace paramkit {

class AtomicFile {
 public:
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
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::filesystem::path& target, std::string_view content);

// Removes temp files left for this target by writers that no longer run (e.g. after SIGKILL).
void remove_stale_temps(const std::filesystem::path& target);

// Reads a whole file; InputError naming the file when it cannot be read.
std::string read_file(const std::filesystem::path& path);

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
