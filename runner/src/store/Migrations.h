// Schema versioning of the run store: PRAGMA user_version counts the applied
// migrations. Exposed for RunStore and for tests that build old databases.
#pragma once

struct sqlite3;

namespace labrun::store::detail {

// The file's PRAGMA user_version.
int userVersion(sqlite3* db);

// Applies the migrations after the file's version up to `target`
// (<= kSchemaVersion), each in its own BEGIN IMMEDIATE transaction that
// re-reads the version first, so concurrent openers migrate once. Throws
// StoreError, naming both versions, when the file is newer than
// kSchemaVersion.
void migrate(sqlite3* db, int target);

// For read-only handles, which cannot migrate: throws StoreError unless the
// file is exactly at kSchemaVersion.
void requireCurrent(sqlite3* db);

}  // namespace labrun::store::detail
