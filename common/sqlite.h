#pragma once
// A thin RAII layer over SQLite: one Database per process (WAL mode,
// foreign keys on, busy timeout), prepared Statements, and Transactions that
// roll back unless committed.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kcr {

class Statement;

class Database {
 public:
  // Opens (creating if needed) the database at `path`. ":memory:" for tests.
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();

  // Runs one or more statements with no results (schema, pragmas).
  Status Exec(std::string_view sql);
  StatusOr<Statement> Prepare(std::string_view sql);
  // The first column of every row of `sql`, with `arg` bound to ?1 when not
  // empty. Empty on error (logged).
  std::vector<std::string> Column(std::string_view sql, const std::string& arg = "");
  sqlite3* raw() { return db_; }
  // Serialises writers inside this process; SQLite serialises across processes.
  std::recursive_mutex& mu() { return mu_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::recursive_mutex mu_;
};

class Statement {
 public:
  Statement(Statement&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Bind by 1-based index. Chainable.
  Statement& Bind(int i, std::string_view v);
  Statement& Bind(int i, int64_t v);
  Statement& BindNull(int i);
  // Advances: true while a row is available, false when done.
  StatusOr<bool> Step();
  // Runs to completion (INSERT/UPDATE/DELETE).
  Status Run();
  std::string Text(int col) const;
  int64_t Int(int col) const;
  bool IsNull(int col) const;
  Status Reset();

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* st) : db_(db), st_(st) {}
  sqlite3* db_;
  sqlite3_stmt* st_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit()ed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Status status() const { return begin_; }
  Status Commit();

 private:
  Database& db_;
  std::unique_lock<std::recursive_mutex> lock_;
  Status begin_;
  bool done_ = false;
};

}  // namespace kcr
