// Minimal RAII over the SQLite C API for the run store: a prepared statement,
// a write transaction, and errors that name the database file. Internal to
// runner/src/store.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "store/RunStore.h"

namespace labrun::store::detail {

// Every StoreError reads "run store '<file>': <what>".
[[noreturn]] inline void fail(sqlite3* db, const std::string& what) {
  const char* file = sqlite3_db_filename(db, "main");
  throw StoreError("run store '" + std::string(file ? file : "") +
                   "': " + what);
}

// Same, followed by SQLite's own text for the last error on `db`.
[[noreturn]] inline void failSqlite(sqlite3* db, const std::string& what) {
  const int code = sqlite3_errcode(db) & 0xFF;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    const char* file = sqlite3_db_filename(db, "main");
    throw StoreBusyError("run store '" + std::string(file ? file : "") +
                         "': " + what + ": " + sqlite3_errmsg(db) +
                         " (another process held the store's lock for "
                         "longer than the busy timeout)");
  }
  fail(db, what + ": " + sqlite3_errmsg(db));
}

// First line of a statement, shortened, to say which one failed.
inline std::string briefSql(const char* sql) {
  std::string text(sql ? sql : "");
  const auto start = text.find_first_not_of(" \n\t");
  text = start == std::string::npos ? "" : text.substr(start);
  text = text.substr(0, text.find('\n'));
  constexpr std::size_t kMax = 60;
  return text.size() > kMax ? text.substr(0, kMax) + "..." : text;
}

// Runs constant SQL (pragmas, transaction control, migration scripts).
inline void exec(sqlite3* db, const char* sql, const std::string& what = {}) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    failSqlite(db, what.empty() ? briefSql(sql) : what);
  }
}

// One prepared statement. Values are only ever bound, never spliced into
// SQL text.
class Stmt {
 public:
  // Prepares the first statement of `sql`; `tail` (when given) receives the
  // text after it. get() is null when `sql` holds no statement at all.
  Stmt(sqlite3* db, const char* sql, const char** tail = nullptr) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, tail) != SQLITE_OK) {
      failSqlite(db, briefSql(sql));
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  sqlite3* db() const { return db_; }

  Stmt& bindInt(int i, std::int64_t v) {
    return check(sqlite3_bind_int64(stmt_, i, v));
  }
  // NaN binds as NULL (SQLite has no NaN), as does an empty optional.
  Stmt& bindReal(int i, std::optional<double> v) {
    return check(v ? sqlite3_bind_double(stmt_, i, *v)
                   : sqlite3_bind_null(stmt_, i));
  }
  Stmt& bindText(int i, const std::string& v) {
    return check(sqlite3_bind_text(
        stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  // For optional text such as an error message: "" is stored as NULL.
  Stmt& bindTextOrNull(int i, const std::string& v) {
    return v.empty() ? bindNull(i) : bindText(i, v);
  }
  Stmt& bindNull(int i) { return check(sqlite3_bind_null(stmt_, i)); }

  // Returns true while there is a row; throws on error.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    failSqlite(db_, briefSql(sqlite3_sql(stmt_)));
  }
  // Executes a statement that returns no rows and readies it for reuse.
  void run() {
    step();
    sqlite3_reset(stmt_);
  }

  std::int64_t columnInt(int col) const {
    return sqlite3_column_int64(stmt_, col);
  }
  double columnReal(int col) const { return sqlite3_column_double(stmt_, col); }
  // Text (or blob bytes) of a column; "" for NULL.
  std::string columnText(int col) const {
    const auto* text =
        reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return text ? std::string(text, sqlite3_column_bytes(stmt_, col)) : "";
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) failSqlite(db_, "binding parameters");
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy
// timeout), so a transaction never fails later when upgrading from a read
// lock. Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!sqlite3_get_autocommit(db_)) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() { exec(db_, "COMMIT"); }

 private:
  sqlite3* db_;
};

// Runs `body` in one write transaction: all of its writes or none.
template <class F>
void inTransaction(sqlite3* db, F&& body) {
  Transaction tx(db);
  body();
  tx.commit();
}

}  // namespace labrun::store::detail
