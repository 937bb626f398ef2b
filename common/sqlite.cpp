#include "common/sqlite.h"

#include "common/log.h"

namespace kcr {

static Status SqlError(sqlite3* db, std::string_view what) {
  return absl::InternalError("sqlite " + std::string(what) + ": " + sqlite3_errmsg(db));
}

StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return absl::InternalError("open database " + path + ": " + msg);
  }
  std::unique_ptr<Database> db(new Database(raw));
  sqlite3_busy_timeout(raw, 10000);
  KCR_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return db;
}

Database::~Database() { sqlite3_close_v2(db_); }

Status Database::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return absl::InternalError("sqlite exec: " + msg);
  }
  return absl::OkStatus();
}

StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr) != SQLITE_OK)
    return SqlError(db_, "prepare \"" + std::string(sql) + "\"");
  return Statement(db_, st);
}

std::vector<std::string> Database::Column(std::string_view sql, const std::string& arg) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::vector<std::string> out;
  auto st = Prepare(sql);
  if (!st.ok()) {
    spdlog::error("{}", st.status());
    return out;
  }
  if (!arg.empty()) st->Bind(1, arg);
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) spdlog::error("{}", row.status());
    if (!row.ok() || !*row) break;
    out.push_back(st->Text(0));
  }
  return out;
}

Statement::~Statement() {
  if (st_) sqlite3_finalize(st_);
}
Statement& Statement::Bind(int i, std::string_view v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
Statement& Statement::BindNull(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}
StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(std::string("sqlite: ") + sqlite3_errmsg(db_));
  return SqlError(db_, "step");
}
Status Statement::Run() {
  for (;;) {
    KCR_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}
std::string Statement::Text(int col) const {
  auto* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
}
int64_t Statement::Int(int col) const { return sqlite3_column_int64(st_, col); }
bool Statement::IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
Status Statement::Reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
  return absl::OkStatus();
}

Transaction::Transaction(Database& db) : db_(db), lock_(db.mu()) { begin_ = db_.Exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_ && begin_.ok()) {
    Status st = db_.Exec("ROLLBACK");
    if (!st.ok()) spdlog::warn("rollback failed: {}", st.message());
  }
}
Status Transaction::Commit() {
  KCR_RETURN_IF_ERROR(begin_);
  done_ = true;
  return db_.Exec("COMMIT");
}

}  // namespace kcr
