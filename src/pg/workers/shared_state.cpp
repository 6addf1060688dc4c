// shared_state.cpp: see shared_state.hpp. One struct under one LWLock; every
// critical section is a few loads and stores.
#include "pg/workers/shared_state.hpp"

#include "core/rate_limit.hpp"
#include "pg/module/guard.hpp"

extern "C" {
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

constexpr int kMaxDatabases = 256;
constexpr int kMaxProgress = 256;

struct DatabaseSlot {
  Oid dbid;              // InvalidOid: free
  uint8 state;           // DatabaseState
  uint32 generation;     // bumped by every state change
  int scheduler_procno;  // -1: none
  int32 hold_pid;        // a backend running a database-wide command; 0: none
};

struct ProgressSlot {
  Oid dbid;  // InvalidOid: free
  int32 policy_id;
  int32 pid;
  int64 rows_deleted;
  int64 rows_archived;
  int32 batches;
  char throttle_reason[kThrottleReasonBytes];
  char horizon_warning[kHorizonWarningBytes];
};

struct SharedState {
  LWLock* lock;
  int launcher_procno;  // -1: not running
  int running_policies;
  int64 rate_next_at;  // earliest start of the next batch, cluster-wide
  DatabaseSlot databases[kMaxDatabases];
  ProgressSlot progress[kMaxProgress];
};

SharedState* shared = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
bool holding_run_slot = false;

void RequestHook() {
  if (prev_shmem_request_hook) prev_shmem_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
  RequestNamedLWLockTranche("pg_retention", 1);
}

void StartupHook() {
  if (prev_shmem_startup_hook) prev_shmem_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found;
  shared = static_cast<SharedState*>(ShmemInitStruct("pg_retention", sizeof(SharedState), &found));
  if (!found) {
    memset(shared, 0, sizeof(SharedState));
    shared->lock = &(GetNamedLWLockTranche("pg_retention"))->lock;
    shared->launcher_procno = -1;
    for (int i = 0; i < kMaxDatabases; ++i) shared->databases[i].scheduler_procno = -1;
  }
  LWLockRelease(AddinShmemInitLock);
}

DatabaseSlot* FindDatabase(Oid dbid, bool create) {
  DatabaseSlot* free_slot = nullptr;
  for (int i = 0; i < kMaxDatabases; ++i) {
    DatabaseSlot* slot = &shared->databases[i];
    if (slot->dbid == dbid) return slot;
    if (slot->dbid == InvalidOid && free_slot == nullptr) free_slot = slot;
  }
  if (!create || free_slot == nullptr) return nullptr;
  free_slot->dbid = dbid;
  free_slot->state = static_cast<uint8>(DatabaseState::kUnknown);
  free_slot->generation = 0;
  free_slot->scheduler_procno = -1;
  free_slot->hold_pid = 0;
  return free_slot;
}

void SetLatchOfProcno(int procno) {
  if (procno >= 0) SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

// Frees this backend's progress slots and run slot when it exits, so a run
// that died by FATAL leaves nothing behind.
void CleanupOnExit(int code, Datum arg) {
  if (shared == nullptr) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxProgress; ++i)
    if (shared->progress[i].pid == MyProcPid) shared->progress[i].dbid = InvalidOid;
  if (holding_run_slot && shared->running_policies > 0) shared->running_policies--;
  holding_run_slot = false;
  for (int i = 0; i < kMaxDatabases; ++i)
    if (shared->databases[i].hold_pid == MyProcPid) shared->databases[i].hold_pid = 0;
  LWLockRelease(shared->lock);
}

bool cleanup_registered = false;

void EnsureCleanup() {
  if (!cleanup_registered) {
    before_shmem_exit(CleanupOnExit, (Datum) 0);
    cleanup_registered = true;
  }
}

}  // namespace

void RequestSharedState() {
  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = RequestHook;
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = StartupHook;
}

bool SharedStateAvailable() { return shared != nullptr; }

void SetDatabaseState(Oid dbid, DatabaseState state) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* slot = FindDatabase(dbid, true);
  if (slot) {
    slot->state = static_cast<uint8>(state);
    slot->generation++;
  }
  LWLockRelease(shared->lock);
}

uint32_t GetDatabaseGeneration(Oid dbid) {
  if (!shared) return 0;
  LWLockAcquire(shared->lock, LW_SHARED);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  uint32 generation = slot ? slot->generation : 0;
  LWLockRelease(shared->lock);
  return generation;
}

void SetDatabaseStateIf(Oid dbid, DatabaseState state, uint32_t generation) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* slot = FindDatabase(dbid, true);
  if (slot && slot->generation == generation) {
    slot->state = static_cast<uint8>(state);
    slot->generation++;
  }
  LWLockRelease(shared->lock);
}

DatabaseState GetDatabaseState(Oid dbid) {
  if (!shared) return DatabaseState::kUnknown;
  LWLockAcquire(shared->lock, LW_SHARED);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  DatabaseState state = slot ? static_cast<DatabaseState>(slot->state) : DatabaseState::kUnknown;
  LWLockRelease(shared->lock);
  return state;
}

void ForgetDatabasesExcept(const Oid* keep, int nkeep) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxDatabases; ++i) {
    DatabaseSlot* slot = &shared->databases[i];
    if (slot->dbid == InvalidOid) continue;
    // A slot with a live scheduler stays until that scheduler has gone.
    bool kept = slot->scheduler_procno != -1;
    for (int k = 0; k < nkeep && !kept; ++k) kept = keep[k] == slot->dbid;
    if (!kept) {
      slot->dbid = InvalidOid;
      slot->scheduler_procno = -1;
    }
  }
  LWLockRelease(shared->lock);
}

int HoldDatabase(Oid dbid) {
  if (!shared) return 0;
  EnsureCleanup();
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* slot = FindDatabase(dbid, true);
  int pid = 0;
  if (slot) {
    slot->hold_pid = MyProcPid;
    if (slot->scheduler_procno >= 0) {
      pid = ProcGlobal->allProcs[slot->scheduler_procno].pid;
      SetLatchOfProcno(slot->scheduler_procno);
    }
  }
  LWLockRelease(shared->lock);
  return pid;
}

void ReleaseDatabaseHolds() {
  if (!shared) return;
  bool released = false;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxDatabases; ++i)
    if (shared->databases[i].hold_pid == MyProcPid) {
      shared->databases[i].hold_pid = 0;
      released = true;
    }
  LWLockRelease(shared->lock);
  if (released) WakeLauncher();
}

bool DatabaseHeld(Oid dbid) {
  if (!shared) return false;
  LWLockAcquire(shared->lock, LW_SHARED);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  int32 holder = slot ? slot->hold_pid : 0;
  LWLockRelease(shared->lock);
  // A holder that died without cleaning up (a crash resets shared memory
  // anyway) holds nothing.
  return holder != 0 && BackendPidGetProc(holder) != nullptr;
}

void SetLauncherProc(bool running) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->launcher_procno = running ? MyProcNumberCompat : -1;
  LWLockRelease(shared->lock);
}

void WakeLauncher() {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_SHARED);
  SetLatchOfProcno(shared->launcher_procno);
  LWLockRelease(shared->lock);
}

bool ClaimScheduler(Oid dbid) {
  if (!shared) return true;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* slot = FindDatabase(dbid, true);
  bool claimed = slot != nullptr &&
                 (slot->scheduler_procno == -1 || slot->scheduler_procno == MyProcNumberCompat);
  if (claimed) slot->scheduler_procno = MyProcNumberCompat;
  LWLockRelease(shared->lock);
  return claimed;
}

void ReleaseScheduler(Oid dbid) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  if (slot && slot->scheduler_procno == MyProcNumberCompat) slot->scheduler_procno = -1;
  LWLockRelease(shared->lock);
}

bool SchedulerRegistered(Oid dbid) {
  if (!shared) return false;
  LWLockAcquire(shared->lock, LW_SHARED);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  bool registered = slot != nullptr && slot->scheduler_procno != -1;
  LWLockRelease(shared->lock);
  return registered;
}

void WakeSchedulers(Oid dbid) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_SHARED);
  DatabaseSlot* slot = FindDatabase(dbid, false);
  if (slot) SetLatchOfProcno(slot->scheduler_procno);
  LWLockRelease(shared->lock);
}

int ProgressBegin(Oid dbid, int32_t policy_id) {
  if (!shared) return -1;
  EnsureCleanup();
  int found = -1;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxProgress && found < 0; ++i) {
    ProgressSlot* slot = &shared->progress[i];
    if (slot->dbid != InvalidOid) continue;
    slot->dbid = dbid;
    slot->policy_id = policy_id;
    slot->pid = MyProcPid;
    slot->rows_deleted = slot->rows_archived = 0;
    slot->batches = 0;
    slot->throttle_reason[0] = '\0';
    slot->horizon_warning[0] = '\0';
    found = i;
  }
  LWLockRelease(shared->lock);
  return found;
}

void ProgressUpdate(int slot, int64_t rows_deleted, int64_t rows_archived, int32_t batches) {
  if (!shared || slot < 0) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->progress[slot].rows_deleted = rows_deleted;
  shared->progress[slot].rows_archived = rows_archived;
  shared->progress[slot].batches = batches;
  LWLockRelease(shared->lock);
}

namespace {

// Copies src (nullptr: "") into dst of size bytes, cut at a character
// boundary: a prepared transaction's gid in a warning can be multibyte.
void CopyWholeCharacters(char* dst, const char* src, int size) {
  if (src == nullptr) src = "";
  int len = pg_mbcliplen(src, strlen(src), size - 1);
  memcpy(dst, src, len);
  dst[len] = '\0';
}

}  // namespace

void ProgressThrottle(int slot, const char* reason) {
  if (!shared || slot < 0) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  CopyWholeCharacters(shared->progress[slot].throttle_reason, reason, kThrottleReasonBytes);
  LWLockRelease(shared->lock);
}

void ProgressHorizon(int slot, const char* warning) {
  if (!shared || slot < 0) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  CopyWholeCharacters(shared->progress[slot].horizon_warning, warning, kHorizonWarningBytes);
  LWLockRelease(shared->lock);
}

void ProgressEnd(int slot) {
  if (!shared || slot < 0) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->progress[slot].dbid = InvalidOid;
  LWLockRelease(shared->lock);
}

int ProgressSnapshot(Oid dbid, ProgressRow* rows, int max) {
  if (!shared) return 0;
  int n = 0;
  LWLockAcquire(shared->lock, LW_SHARED);
  for (int i = 0; i < kMaxProgress && n < max; ++i) {
    const ProgressSlot* slot = &shared->progress[i];
    if (slot->dbid != dbid) continue;
    rows[n].policy_id = slot->policy_id;
    rows[n].pid = slot->pid;
    rows[n].rows_deleted = slot->rows_deleted;
    rows[n].rows_archived = slot->rows_archived;
    rows[n].batches = slot->batches;
    memcpy(rows[n].throttle_reason, slot->throttle_reason, kThrottleReasonBytes);
    memcpy(rows[n].horizon_warning, slot->horizon_warning, kHorizonWarningBytes);
    n++;
  }
  LWLockRelease(shared->lock);
  return n;
}

int64_t ReserveClusterRows(int64_t rows, int64_t rows_per_second, int64_t now) {
  if (!shared || rows_per_second <= 0) return now;
  CoreError err;
  core::RateReservation r;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  int64_t next_at = shared->rate_next_at;
  bool ok = CallCore(  // plain arithmetic; cannot fail in practice
      &err,
      [](int64_t next, int64_t at, int64_t n, int64_t rate, core::RateReservation* out) {
        *out = core::ReserveRows(next, at, n, rate);
        return core::Status::Ok();
      },
      next_at, now, rows, rows_per_second, &r);
  if (ok) shared->rate_next_at = r.next_at_us;
  LWLockRelease(shared->lock);
  if (!ok) RaiseCoreError(&err);
  return r.start_at_us;
}

bool TryAcquireRunSlot(int max_workers) {
  if (!shared) return true;
  EnsureCleanup();
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  bool ok = shared->running_policies < max_workers;
  if (ok) {
    shared->running_policies++;
    holding_run_slot = true;
  }
  LWLockRelease(shared->lock);
  return ok;
}

void ReleaseRunSlot() {
  if (!shared || !holding_run_slot) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (shared->running_policies > 0) shared->running_policies--;
  holding_run_slot = false;
  LWLockRelease(shared->lock);
}

}  // namespace pg_retention::pg
