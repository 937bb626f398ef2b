#include "streaming/remotecommand.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "runtime/monitor/client.h"

namespace kcr::streaming {

namespace asio = boost::asio;
using nlohmann::json;
using Descriptor = asio::posix::stream_descriptor;

std::string ExitStatusJson(int exit_code, const std::string& error) {
  json s = {{"metadata", json::object()}};
  if (!error.empty()) {
    s["status"] = "Failure";
    s["message"] = error;
    s["reason"] = "InternalError";
    s["code"] = 500;
    s["details"] = {{"causes", json::array({{{"message", error}}})}};
  } else if (exit_code == 0) {
    s["status"] = "Success";
  } else {
    s["status"] = "Failure";
    s["message"] = "command terminated with non-zero exit code: exit status " + std::to_string(exit_code);
    s["reason"] = "NonZeroExitCode";
    s["details"] = {{"causes", json::array({{{"reason", "ExitCode"}, {"message", std::to_string(exit_code)}}})}};
  }
  return s.dump();
}

namespace {

// What the monitor call produced, handed from the blocking pool to the loop.
struct Started {
  std::shared_ptr<monitor::MonitorClient> mon;
  StatusOr<json> reply = absl::InternalError("not called");
  std::vector<UniqueFd> fds;
};

class Session : public Transport::Handler, public std::enable_shared_from_this<Session> {
 public:
  Session(asio::io_context& io, asio::thread_pool& pool, std::shared_ptr<Transport> t, int version, Request r)
      : io_(io), pool_(pool), t_(std::move(t)), version_(version), grace_(io), drain_(io), streams_(io) {
    // Exec and attach requests share these fields; exec adds its command.
    auto take = [this](const auto& q) {
      container_ = q.container_id;
      socket_ = q.monitor_socket;
      tty_ = q.tty;
      want_in_ = q.stdin;
      want_out_ = q.stdout;
      want_err_ = q.stderr;
    };
    if (auto* e = std::get_if<ExecRequest>(&r)) {
      exec_ = true;
      take(*e);
      cmd_ = e->cmd;
    } else if (auto* a = std::get_if<AttachRequest>(&r)) {
      take(*a);
    }
    if (t_->ClientOpensChannels()) {
      // The streams kubelet's SPDY handler waits for: error, the standard
      // ones asked for (a terminal has no stderr), resize with a terminal
      // from v3 on.
      awaited_.insert(kError);
      if (want_in_) awaited_.insert(kStdin);
      if (want_out_) awaited_.insert(kStdout);
      if (want_err_ && !tty_) awaited_.insert(kStderr);
      if (tty_ && version_ >= 3) awaited_.insert(kResize);
    }
  }

  ~Session() override {
    if (mon_) mon_->Close();
    if (waiter_.joinable()) waiter_.join();
  }

  void Run() {
    self_ = shared_from_this();
    t_->Start(weak_from_this());
    if (!awaited_.empty()) {
      streams_.expires_after(kStreamsGrace);
      streams_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || ec || self->awaited_.empty()) return;
        spdlog::info("streaming: {} session for container {}: the client opened {} of its streams in {} ms, closed",
                     self->exec_ ? "exec" : "attach", self->container_,
                     self->awaited_.size() == 1 ? "all but one" : "not all", kStreamsGrace.count());
        self->t_->Abort();
      });
    }
    if (exec_ && tty_) {
      // The client's first resize usually follows its upgrade at once.
      grace_.expires_after(kInitialSizeGrace);
      grace_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->StartProcess();
      });
    } else {
      StartProcess();
    }
  }

  void OnData(uint32_t channel, std::string data, std::function<void()> done) override {
    if (channel == kResize) {
      Resize(data);
      done();
    } else if (channel == kStdin) {
      pending_.emplace(std::move(data), std::move(done));
      if (started_) WriteStdin();
    } else {
      done();  // a channel the client does not write: ignored, as kubelet does
    }
  }

  void OnOpen(uint32_t channel, const std::map<std::string, std::string>&) override {
    if (awaited_.erase(channel) && awaited_.empty()) {
      streams_.cancel();
      if (start_asked_) StartProcess();
    }
  }

  void OnClose(uint32_t channel) override {
    if (channel != kStdin) return;
    stdin_closed_ = true;
    if (started_ && !pending_) CloseStdin();
  }

  void OnGone(const Status& why) override {
    if (!why.ok() && !finished_) spdlog::info("streaming: {} session for container {} ended: {}",
                                              exec_ ? "exec" : "attach", container_, why.message());
    gone_ = true;
    Cleanup();
    self_.reset();
  }

 private:
  void StartProcess() {
    start_asked_ = true;
    if (!awaited_.empty() || starting_ || gone_) return;
    starting_ = true;
    grace_.cancel();
    json req;
    if (exec_) {
      req = {{"op", "exec"}, {"container", container_}, {"args", cmd_}, {"tty", tty_}, {"stdin", want_in_}};
      if (size_) req["rows"] = size_->first, req["cols"] = size_->second;
    } else {
      req = {{"op", "attach"}, {"container", container_}};
    }
    asio::post(pool_, [weak = weak_from_this(), io = &io_, socket = socket_, req = std::move(req)]() mutable {
      auto out = std::make_shared<Started>();
      auto mon = monitor::MonitorClient::Connect(socket);
      if (!mon.ok()) {
        out->reply = mon.status();
      } else {
        out->mon = std::move(*mon);
        out->reply = out->mon->Call(std::move(req), &out->fds);
      }
      asio::post(*io, [weak, out] {
        if (auto self = weak.lock()) {
          self->OnStarted(*out);
        } else if (out->mon) {
          out->mon->Close();  // the client went away meanwhile: the exec is killed
        }
      });
    });
  }

  void OnStarted(Started& s) {
    mon_ = s.mon;
    if (gone_) {
      Cleanup();
      return;
    }
    if (!s.reply.ok()) {
      Finish(-1, std::string(exec_ ? "error executing command in container: " : "error attaching to container: ") +
                     std::string(s.reply.status().message()));
      return;
    }
    std::vector<std::string> names = s.reply->value("fds", std::vector<std::string>{});
    for (size_t i = 0; i < names.size() && i < s.fds.size(); i++) {
      int fd = s.fds[i].release();
      if (names[i] == "tty") {
        tty_fd_ = fd;
        if (exec_) out_ = std::make_unique<Descriptor>(io_, ::fcntl(fd, F_DUPFD_CLOEXEC, 3));
        in_ = std::make_unique<Descriptor>(io_, fd);
      } else if (names[i] == "stdin") {
        in_ = std::make_unique<Descriptor>(io_, fd);
      } else if (names[i] == "stdout") {
        out_ = std::make_unique<Descriptor>(io_, fd);
      } else if (names[i] == "stderr") {
        err_ = std::make_unique<Descriptor>(io_, fd);
      } else {
        ::close(fd);
      }
    }
    started_ = true;
    if (!want_in_ && !tty_) in_.reset();
    out_eof_ = !out_;
    err_eof_ = !err_;
    if (out_) ReadOutput(out_.get(), kStdout, want_out_, &out_buf_, &out_eof_);
    if (err_) ReadOutput(err_.get(), kStderr, want_err_, &err_buf_, &err_eof_);
    if (size_ && !exec_) ApplySize();  // an exec got it in its request
    if (exec_) WaitForExit(s.reply->value("exec", -1));
    if (pending_) {
      WriteStdin();
    } else if (stdin_closed_) {
      CloseStdin();
    }
    CheckDone();
  }

  // The monitor tells this connection when the exec's process exited.
  void WaitForExit(int pid) {
    waiter_ = std::thread([mon = mon_, io = &io_, weak = weak_from_this(), pid] {
      int code = -1;
      std::string error;
      for (;;) {
        auto ev = mon->NextEvent();
        if (!ev.ok()) {
          error = "lost the pod monitor: " + std::string(ev.status().message());
          break;
        }
        if (ev->value("event", "") == "exec_exited" && ev->value("exec", -2) == pid) {
          code = ev->value("exit_code", -1);
          break;
        }
      }
      asio::post(*io, [weak, code, error] {
        if (auto self = weak.lock()) self->OnExited(code, error);
      });
    });
  }

  void OnExited(int code, const std::string& error) {
    if (gone_ || finished_) return;
    exited_ = true;
    exit_code_ = code;
    exit_error_ = error;
    if (!out_eof_ || !err_eof_) {
      drain_.expires_after(kExitDrain);
      drain_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->Finish(self->exit_code_, self->exit_error_);
      });
    }
    CheckDone();
  }

  void ReadOutput(Descriptor* d, uint32_t channel, bool forward, std::array<char, 32768>* buf, bool* eof) {
    d->async_read_some(asio::buffer(*buf), [weak = weak_from_this(), d, channel, forward, buf, eof](
                                               const boost::system::error_code& ec, size_t n) {
      auto self = weak.lock();
      if (!self || self->gone_ || ec == asio::error::operation_aborted) return;
      if (ec) {  // EOF, or EIO from a pty master whose slave is closed everywhere
        *eof = true;
        self->CheckDone();
        return;
      }
      if (!forward) {
        self->ReadOutput(d, channel, forward, buf, eof);
        return;
      }
      self->t_->Send(channel, std::string(buf->data(), n), [weak, d, channel, forward, buf, eof] {
        if (auto s = weak.lock(); s && !s->gone_ && !s->finished_) s->ReadOutput(d, channel, forward, buf, eof);
      });
    });
  }

  void WriteStdin() {
    if (writing_ || !pending_) return;
    if (!in_ || !want_in_) {  // nowhere to go: dropped
      auto done = std::move(pending_->second);
      pending_.reset();
      done();
      return;
    }
    writing_ = true;
    asio::async_write(*in_, asio::buffer(pending_->first),
                      [weak = weak_from_this()](const boost::system::error_code& ec, size_t) {
                        auto self = weak.lock();
                        if (!self) return;
                        self->writing_ = false;
                        if (ec && ec != asio::error::operation_aborted && !self->tty_) self->in_.reset();  // EPIPE: stdin closed
                        auto done = std::move(self->pending_->second);
                        self->pending_.reset();
                        if (self->stdin_closed_) self->CloseStdin();
                        done();
                      });
  }

  // Pipes: EOF to the process. A terminal has no EOF of its own to pass
  // (the client sends its EOF character through stdin): kept open.
  void CloseStdin() {
    if (!tty_) in_.reset();
  }

  // Resize messages are JSON objects {"Width": w, "Height": h}, one per
  // WebSocket message or concatenated on a SPDY stream.
  void Resize(const std::string& data) {
    resize_buf_ += data;
    if (resize_buf_.size() > 4096) resize_buf_.clear();  // nothing valid is that long
    for (;;) {
      size_t open = resize_buf_.find('{'), close = resize_buf_.find('}', open == std::string::npos ? 0 : open);
      if (open == std::string::npos || close == std::string::npos) return;
      json j = json::parse(resize_buf_.substr(open, close - open + 1), nullptr, false);
      resize_buf_.erase(0, close + 1);
      if (!j.is_object()) continue;
      int w = j.value("Width", 0), h = j.value("Height", 0);
      if (w <= 0 || h <= 0 || w > 65535 || h > 65535) continue;
      size_ = {h, w};
      if (started_) {
        ApplySize();
      } else if (exec_ && tty_ && !starting_) {
        StartProcess();  // the size the command starts with
      }
    }
  }

  void ApplySize() {
    if (tty_fd_ < 0 || !in_ || !size_) return;
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(size_->first);
    ws.ws_col = static_cast<unsigned short>(size_->second);
    ::ioctl(in_->native_handle(), TIOCSWINSZ, &ws);
  }

  void CheckDone() {
    if (finished_ || gone_ || !started_) return;
    if (!out_eof_ || !err_eof_) return;
    if (exec_ && !exited_) return;
    Finish(exec_ ? exit_code_ : 0, exec_ ? exit_error_ : "");
  }

  void Finish(int code, const std::string& error) {
    if (finished_ || gone_) return;
    finished_ = true;
    drain_.cancel();
    std::string status = ExitStatusJson(code, error);
    if (version_ >= 4) {
      t_->Send(kError, status, nullptr);
    } else if (!error.empty() || code != 0) {
      t_->Send(kError, json::parse(status).value("message", "error"), nullptr);
    }
    t_->Finish();
  }

  void Cleanup() {
    grace_.cancel();
    drain_.cancel();
    streams_.cancel();
    out_.reset();
    err_.reset();
    in_.reset();
    tty_fd_ = -1;
    if (mon_) mon_->Close();  // an exec still running is killed by its monitor
  }

  asio::io_context& io_;
  asio::thread_pool& pool_;
  std::shared_ptr<Transport> t_;
  int version_;
  std::shared_ptr<Session> self_;  // alive until the transport is gone
  bool exec_ = false, tty_ = false, want_in_ = false, want_out_ = false, want_err_ = false;
  std::string container_, socket_;
  std::vector<std::string> cmd_;
  asio::steady_timer grace_, drain_, streams_;
  std::set<uint32_t> awaited_;  // SPDY streams the client has yet to open
  bool start_asked_ = false;    // the process starts once awaited_ is empty
  std::shared_ptr<monitor::MonitorClient> mon_;
  std::thread waiter_;
  std::unique_ptr<Descriptor> in_, out_, err_;
  int tty_fd_ = -1;
  std::array<char, 32768> out_buf_, err_buf_;
  std::optional<std::pair<std::string, std::function<void()>>> pending_;
  std::optional<std::pair<int, int>> size_;  // rows, cols
  std::string resize_buf_;
  bool starting_ = false, started_ = false, writing_ = false, stdin_closed_ = false;
  bool out_eof_ = false, err_eof_ = false, exited_ = false, finished_ = false, gone_ = false;
  int exit_code_ = -1;
  std::string exit_error_;
};

}  // namespace

void RunRemoteCommand(asio::io_context& io, asio::thread_pool& blocking, std::shared_ptr<Transport> t,
                      int protocol_version, Request r) {
  std::make_shared<Session>(io, blocking, std::move(t), protocol_version, std::move(r))->Run();
}

}  // namespace kcr::streaming
