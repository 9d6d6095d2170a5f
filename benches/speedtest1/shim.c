/*
** sqlvault inside SQLite's speedtest1 (benches/speedtest1/run.sh).
**
** Compiled into the same binary as speedtest1.c and the bundled amalgamation, with
** -DSQLITE_EXTRA_INIT=speedtest1_sqlvault_init, so it runs once at the end of
** sqlite3_initialize(), after speedtest1 has made its sqlite3_config() calls:
**
**   1. Loads libsqlvault.so (path in SQLVAULT_SPEEDTEST_EXT) through SQLite's extension
**      loader. That registers the "sqlvault" VFS (layered over "unix") as the default;
**      the previous default is put back, so "unix" stays the default VFS, speedtest1's
**      timing clock (the default VFS's xCurrentTimeInt64) is the same object in both
**      configurations, and only --vfs selects sqlvault.
**   2. Registers an auto-extension: every connection whose main database is on a
**      sqlvault VFS runs PRAGMA key = "x'<64 hex>'" (a raw key, no Argon2) first, with
**      the key from SQLVAULT_SPEEDTEST_KEY. A sqlvault connection without a key, or a
**      failed PRAGMA key, aborts the run (exit 70): never a silently unkeyed run.
**
** Without SQLVAULT_SPEEDTEST_EXT nothing is loaded and the binary is plain speedtest1.
** Both configurations in run.sh load the extension, so they differ only by --vfs.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite3.h"

static char st1_pragma[128];

static int st1_is_sqlvault(sqlite3 *db){
  sqlite3_vfs *p = 0;
  if( sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &p)!=SQLITE_OK ) return 0;
  return p && p->zName && strncmp(p->zName, "sqlvault", 8)==0;
}

static int st1_key_conn(sqlite3 *db, char **pzErr, const void *pApi){
  char *err = 0;
  (void)pApi;
  if( !st1_is_sqlvault(db) ) return SQLITE_OK;
  if( st1_pragma[0]==0 ){
    fprintf(stderr, "sqlvault-speedtest1: sqlvault connection but no SQLVAULT_SPEEDTEST_KEY\n");
    exit(70);
  }
  if( sqlite3_exec(db, st1_pragma, 0, 0, &err)!=SQLITE_OK ){
    fprintf(stderr, "sqlvault-speedtest1: PRAGMA key failed: %s\n",
            err ? err : sqlite3_errmsg(db));
    exit(70);
  }
  (void)pzErr;
  return SQLITE_OK;
}

int speedtest1_sqlvault_init(const char *unused){
  const char *path = getenv("SQLVAULT_SPEEDTEST_EXT");
  const char *key = getenv("SQLVAULT_SPEEDTEST_KEY");
  sqlite3_vfs *prev;
  sqlite3 *db = 0;
  char *err = 0;
  int rc;
  (void)unused;
  if( !path || !*path ) return SQLITE_OK;
  if( key && *key ){
    if( strlen(key)!=64 || strspn(key, "0123456789abcdefABCDEF")!=64 ){
      fprintf(stderr, "sqlvault-speedtest1: SQLVAULT_SPEEDTEST_KEY must be 64 hex digits\n");
      exit(70);
    }
    snprintf(st1_pragma, sizeof(st1_pragma), "PRAGMA key = \"x'%s'\"", key);
  }
  prev = sqlite3_vfs_find(0);
  rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, "unix");
  if( rc==SQLITE_OK ) rc = sqlite3_enable_load_extension(db, 1);
  if( rc==SQLITE_OK ) rc = sqlite3_load_extension(db, path, "sqlite3_sqlvault_init", &err);
  if( rc!=SQLITE_OK ){
    fprintf(stderr, "sqlvault-speedtest1: cannot load %s: %s\n", path,
            err ? err : sqlite3_errmsg(db));
    exit(70);
  }
  sqlite3_free(err);
  sqlite3_close(db);
  if( prev ) sqlite3_vfs_register(prev, 1);
  if( sqlite3_vfs_find("sqlvault")==0 ){
    fprintf(stderr, "sqlvault-speedtest1: no \"sqlvault\" VFS after loading %s\n", path);
    exit(70);
  }
  return sqlite3_auto_extension((void(*)(void))st1_key_conn);
}
