// Atomic output files and folders, and manifest-last output sets.
#include "paramkit/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
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
    if (alive) continue;
    const fs::path stale = dir / name;
    struct stat st;
    if (::lstat(stale.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::error_code ec;  // a folder output's temp folder (or the old folder set aside)
      fs::remove_all(stale, ec);
    } else {
      ::unlink(stale.c_str());
    }
  }
  ::closedir(d);
}

std::vector<fs::path> create_missing_folders(const fs::path& dir) {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::reverse(missing.begin(), missing.end());
  std::vector<fs::path> created;
  for (const auto& p : missing) {
    if (::mkdir(p.c_str(), 0777) != 0 && errno != EEXIST) {
      const int err = errno;
      remove_created_folders(created);
      errno = err;
      throw UsageError(p.string() + ": cannot create the output folder: " + std::strerror(err));
    }
    created.push_back(p);
  }
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    remove_created_folders(created);
    throw UsageError(dir.string() + ": is not a folder, so no output can be written in it");
  }
  return created;
}

void remove_created_folders(const std::vector<fs::path>& dirs) {
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) ::rmdir(it->c_str());  // fails (kept) unless empty
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  std::error_code ec;
  if (fs::is_directory(target_, ec))
    throw UsageError(target_.string() + ": is a folder; expected the path of a file to write");
  created_dirs_ = create_missing_folders(dir);
  remove_stale_temps(target_);
  temp_ = (dir.empty() ? fs::path(".") : dir) /
          (temp_prefix(target_) + std::to_string(::getpid()) + "-" + std::to_string(g_counter++));
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    remove_created_folders(created_dirs_);
    errno = err;
    fail_io(temp_, "cannot create temp file");
  }
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
    remove_created_folders(created_dirs_);
  }
  committed_ = true;
}

namespace {
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
// renameat2(2); -1 with errno ENOSYS where the kernel or libc lacks it.
int rename2(const fs::path& from, const fs::path& to, unsigned flags) {
  if (std::getenv("PARAMKIT_TEST_NO_RENAMEAT2")) {  // tests: the path for file systems without it
    errno = ENOSYS;
    return -1;
  }
#ifdef SYS_renameat2
  return static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
#else
  (void)from, (void)to, (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}

// Hard link, or a copy where the file system has no hard links.
void link_or_copy(const fs::path& from, const fs::path& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return;
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(to.string() + ": cannot keep " + from.string() + ": " + ec.message());
}
}  // namespace

AtomicFolder::AtomicFolder(fs::path target) {
  std::error_code ec;
  // Normalise ("out/", "./out"): the temp folder is a sibling named after the last component.
  target = target.lexically_normal();
  if (target.has_filename() == false && target.has_parent_path()) target = target.parent_path();
  if (fs::is_symlink(target, ec) && fs::is_directory(target, ec)) target = fs::canonical(target, ec);
  const fs::path abs = fs::absolute(target, ec).lexically_normal();
  const std::string name = target.filename().string();
  if (name.empty() || name == "." || name == ".." || abs == abs.root_path())
    throw UsageError(target.string() + ": name the output folder itself (not '.', '..' or '/')");
  const fs::path cwd = fs::current_path(ec);
  if (!ec) {
    const auto rel = cwd.lexically_relative(fs::weakly_canonical(abs, ec));
    if (!rel.empty() && *rel.begin() != "..")
      throw UsageError(target.string() + ": the output folder is (or holds) the current folder; run from outside it");
  }
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec))
      throw UsageError(target.string() + ": exists and is not a folder; a folder output cannot replace it");
    for (const auto& e : fs::directory_iterator(target, ec))
      if (e.is_directory(ec) && !e.is_symlink(ec))
        throw UsageError(target.string() + ": holds the folder '" + e.path().filename().string() +
                         "'; a folder output replaces only a folder of files: write to a new folder");
  }
  target_ = target;
  created_dirs_ = create_missing_folders(target_.parent_path());
  remove_stale_temps(target_);
  const fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  temp_ = dir / (temp_prefix(target_) + std::to_string(::getpid()) + "-" + std::to_string(g_counter++));
  if (::mkdir(temp_.c_str(), 0777) != 0) {
    const int err = errno;
    remove_created_folders(created_dirs_);
    errno = err;
    fail_io(temp_, "cannot create temp folder");
  }
}

AtomicFolder::~AtomicFolder() {
  if (!done_) abandon();
}

void AtomicFolder::abandon() {
  if (done_) return;
  done_ = true;
  std::error_code ec;
  fs::remove_all(temp_, ec);
  remove_created_folders(created_dirs_);
}

std::vector<std::string> AtomicFolder::keep_from_target(const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> kept;
  std::error_code ec;
  if (!fs::is_directory(target_, ec)) return kept;
  for (const auto& e : fs::directory_iterator(target_, ec)) {
    const std::string f = e.path().filename().string();
    if (!keep(f) || fs::exists(fs::symlink_status(temp_ / f, ec))) continue;
    if (e.is_symlink(ec)) {
      fs::copy_symlink(e.path(), temp_ / f, ec);
      if (ec) throw Error((temp_ / f).string() + ": cannot keep the link " + e.path().string() + ": " + ec.message());
    } else if (e.is_regular_file(ec)) {
      link_or_copy(e.path(), temp_ / f);
    } else {
      continue;
    }
    kept.push_back(f);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

void AtomicFolder::commit() {
  if (done_) throw Error(target_.string() + ": folder output committed twice or abandoned");
  fsync_dir(temp_);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target_, ec))) {
    // A fresh folder: one rename (NOREPLACE, so that a folder made meanwhile by someone else is not
    // replaced without being looked at; then it is swapped like any existing folder below).
    int r = rename2(temp_, target_, RENAME_NOREPLACE);
    if (r != 0 && errno != EEXIST && errno != ENOTEMPTY) r = ::rename(temp_.c_str(), target_.c_str());
    if (r == 0) {
      done_ = true;
      fsync_dir(target_.parent_path());
      return;
    }
    if (errno != EEXIST && errno != ENOTEMPTY) fail_io(target_, "rename of the new folder failed");
  }
  fs::path old = temp_;  // after RENAME_EXCHANGE the temp name holds the old folder
  if (rename2(temp_, target_, RENAME_EXCHANGE) != 0) {
    // No RENAME_EXCHANGE on this file system (EINVAL/ENOSYS): the old folder goes aside (under a name
    // the stale-temp cleanup removes), then the new one in.
    old = fs::path(temp_.string() + "-old");
    if (::rename(target_.c_str(), old.c_str()) != 0) fail_io(target_, "cannot move the old folder aside");
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      const int err = errno;
      ::rename(old.c_str(), target_.c_str());  // put the old folder back
      errno = err;
      fail_io(target_, "rename of the new folder failed");
    }
  }
  done_ = true;
  fsync_dir(target_.parent_path());
  fs::remove_all(old, ec);
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
