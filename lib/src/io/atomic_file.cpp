// Atomic output files and manifest-last output sets.
#include "paramkit/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

namespace fs = std::filesystem;

namespace paramkit {
namespace {
std::atomic<unsigned> g_counter{0};

std::string temp_prefix(const fs::path& target) { return "." + target.filename().string() + ".tmp-"; }

[[noreturn]] void fail_io(const fs::path& p, const char* what) {
  throw Error(p.string() + ": " + what + ": " + std::strerror(errno));
}

void fsync_dir(const fs::path& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}
}  // namespace

void remove_stale_temps(const fs::path& target) {
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string prefix = temp_prefix(target);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // name: .<target>.tmp-<pid>-<n>
    long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    bool alive = pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
    if (!alive) ::unlink((dir / name).c_str());
  }
  ::closedir(d);
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  if (!dir.empty() && !fs::is_directory(dir)) throw UsageError(target_.string() + ": output folder does not exist");
  remove_stale_temps(target_);
  temp_ = (dir.empty() ? fs::path(".") : dir) /
          (temp_prefix(target_) + std::to_string(::getpid()) + "-" + std::to_string(g_counter++));
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_io(temp_, "cannot create temp file");
  register_temp_file(temp_.string());
}

AtomicFile::~AtomicFile() {
  if (!committed_) abandon();
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_io(target_, "write failed");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::pwrite(const void* data, size_t n, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_io(target_, "write failed");
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (::fsync(fd_) != 0) fail_io(target_, "fsync failed");
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail_io(target_, "close failed");
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail_io(target_, "rename failed");
  unregister_temp_file(temp_.string());
  committed_ = true;
  fsync_dir(target_.parent_path());
}

void AtomicFile::abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_ && !temp_.empty()) {
    ::unlink(temp_.c_str());
    unregister_temp_file(temp_.string());
  }
  committed_ = true;
}

void write_file_atomic(const fs::path& target, std::string_view content) {
  AtomicFile f(target);
  f.write(content);
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "", std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path.string(), "", "read failed");
  return ss.str();
}

OutputSet::OutputSet(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(dir_.string() + ": cannot create output folder: " + ec.message());
}

void OutputSet::add(const std::string& name) { files_.push_back(name); }

void OutputSet::commit(const std::string& manifest_name, const std::string& manifest_content) {
  for (const auto& f : files_)
    if (!fs::exists(dir_ / f)) throw Error((dir_ / f).string() + ": member of the output set is missing");
  write_file_atomic(dir_ / manifest_name, manifest_content);
}

}  // namespace paramkit
