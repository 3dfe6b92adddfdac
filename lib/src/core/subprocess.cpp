#include "paramkit/core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::filesystem::path self_executable() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot locate this program (/proc/self/exe): " + ec.message());
  return self;
}

std::string run_command(const std::string& command, const CommandOptions& o) {
  int out_fds[2], in_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) throw Error(o.what + ": cannot make a pipe: " + std::string(std::strerror(errno)));
  if (::pipe2(in_fds, O_CLOEXEC) != 0) {
    ::close(out_fds[0]);
    ::close(out_fds[1]);
    throw Error(o.what + ": cannot make a pipe: " + std::string(std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_fds[0], out_fds[1], in_fds[0], in_fds[1]}) ::close(fd);
    throw Error(o.what + ": cannot start: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGPIPE, &sa, nullptr);
    ::dup2(out_fds[1], STDOUT_FILENO);
    ::dup2(in_fds[0], STDIN_FILENO);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here: no race with the child's own call
  ::close(out_fds[1]);
  ::close(in_fds[0]);
  int in_fd = in_fds[1];
  ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  if (o.input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  auto end_group = [&] {
    ::kill(-pid, SIGTERM);
    for (int k = 0; k < 20; ++k) {  // up to 1 s to exit, then SIGKILL
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        ::kill(-pid, SIGKILL);  // anything it left in its group
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  };
  auto close_all = [&] {
    ::close(out_fds[0]);
    if (in_fd >= 0) ::close(in_fd);
    in_fd = -1;
  };
  std::string out;
  char buf[65536];
  bool too_much = false;
  for (bool open = true; open;) {
    if (stop_requested()) {
      close_all();
      end_group();
      throw Interrupted();
    }
    pollfd p[2] = {{out_fds[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const int r = ::poll(p, in_fd >= 0 ? 2 : 1, 50);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      // A command that exits without reading its input closes the pipe: the write fails with EPIPE.
      // SIGPIPE is blocked around it (and a pending one taken) so it cannot end the tool.
      sigset_t pipe_set, old_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
      const ssize_t n = ::write(in_fd, o.input.data() + written, o.input.size() - written);
      if (n < 0 && errno == EPIPE) {
        const timespec zero{0, 0};
        ::sigtimedwait(&pipe_set, nullptr, &zero);
      }
      ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
      if (n > 0) written += static_cast<size_t>(n);
      // EPIPE: the command stopped reading; what it printed decides
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == o.input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(out_fds[0], buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        open = false;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > o.max_output) {
        if (o.keep_tail) {
          out.erase(0, out.size() - o.max_output / 2);
        } else {
          too_much = true;
          break;
        }
      }
    }
  }
  close_all();
  if (too_much) {
    end_group();
    throw Error(o.what + ": the command wrote more than " + std::to_string(o.max_output) + " bytes: " + command);
  }
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw Error(o.what + ": lost the command: " + command);
    if (stop_requested()) {
      end_group();
      throw Interrupted();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    throw CommandFailed(o.what + " failed (" + how + "): " + command,
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  }
  return out;
}

int run_process_group(const std::vector<std::string>& argv, int64_t n,
                      const std::function<std::vector<std::pair<std::string, std::string>>(int64_t rank)>& env, std::string& failure) {
  if (argv.empty() || n < 1) throw UsageError("launch: a command and at least one process");
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < n; ++r) {
    const auto extra = env(r);
    const pid_t pid = fork();
    if (pid < 0) throw Error(std::string("launch: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      for (const auto& [k, v] : extra) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> a;
      for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
      a.push_back(nullptr);
      execvp(a[0], a.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", a[0], std::strerror(errno));
      _exit(127);
    }
    pids.push_back(pid);
  }
  int first = 0;
  size_t alive = pids.size();
  std::vector<bool> done(pids.size(), false);
  auto stop_all = [&](int sig) {
    for (size_t k = 0; k < pids.size(); ++k)
      if (!done[k]) kill(pids[k], sig);
  };
  auto deadline = std::chrono::steady_clock::time_point::max();
  bool forwarded = false;
  while (alive > 0) {
    int status = 0;
    const pid_t p = waitpid(-1, &status, WNOHANG);
    if (p > 0) {
      for (size_t k = 0; k < pids.size(); ++k)
        if (pids[k] == p && !done[k]) {
          done[k] = true;
          --alive;
          const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          if (code != 0 && first == 0) {
            first = code;
            failure = WIFEXITED(status) ? "rank " + std::to_string(k) + " exited with code " + std::to_string(code)
                                        : "rank " + std::to_string(k) + " was killed by signal " + std::to_string(WTERMSIG(status));
            stop_all(SIGTERM);
            deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
          }
        }
      continue;
    }
    if (stop_requested() && !forwarded) {
      forwarded = true;
      stop_all(SIGTERM);
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      if (first == 0) first = 130, failure = "interrupted";
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_all(SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return first;
}

}  // namespace paramkit
