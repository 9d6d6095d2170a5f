/*
** sqlvault under SQLite's testfixture.
**
** Linked into testfixture with -Wl,--wrap=sqlite3_open_v2,--wrap=sqlite3_open,
** --wrap=sqlite3_open16, so every connection that tclsqlite.c ("sqlite3 db FILE ...",
** "db backup", "db restore") and the test*.c helpers (sqlite3_open, sqlite3_open_v2,
** sqlthread, the test server, superlock, ...) open goes through here, in the test
** process and in every child testfixture (crashsql, do_multiclient_test, testfixture_nb).
**
** For each open:
**   1. The VFS the test chose (the -vfs argument, a "vfs=" URI parameter, or the default
**      VFS at that moment, e.g. a testvfs made with -default 1, devsym, crash) is looked
**      up; a sqlvault instance is registered over that very VFS object under a name of
**      its own (sqlvault_register_named from libsqlvault.so), and the connection is
**      opened through it.
**   2. If the main database is a file (not :memory:, not a temp "" database), the first
**      statement on the connection is PRAGMA key = "x'<64 hex>'" (a raw key: no Argon2).
**
** SQLVAULT_SUITE=0 in the environment turns all of it off (plain baseline, same binary).
** SQLVAULT_SUITE_EXT names libsqlvault.so (default: compiled in as SQLVAULT_SUITE_EXT_PATH).
** SQLVAULT_SUITE_KEY overrides the 64-hex-digit key.
** A failed PRAGMA key is reported on stderr as "sqlvault-suite: key failed ..." and the
** open returns that error, so the harness never silently runs a connection unkeyed.
*/
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite3.h"

#ifndef SQLVAULT_SUITE_EXT_PATH
# define SQLVAULT_SUITE_EXT_PATH "libsqlvault.so"
#endif
#define SUITE_DEFAULT_KEY \
  "5d1f3b0a8c27e4966fa1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667"

int __real_sqlite3_open_v2(const char*, sqlite3**, int, const char*);
int __real_sqlite3_open(const char*, sqlite3**);
int __real_sqlite3_open16(const void*, sqlite3**);

typedef int (*register_named_fn)(const char*, const char*, int);

static pthread_mutex_t suite_mutex = PTHREAD_MUTEX_INITIALIZER;
static int suite_state = 0;          /* 0 not yet, 1 on, -1 off */
static register_named_fn suite_register_named = 0;
static char suite_pragma[128];

static int suite_fail(const char *what, const char *detail){
  fprintf(stderr, "sqlvault-suite: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return -1;
}

/* Loads libsqlvault.so through SQLite's own extension loader (the extension calls back
** into this SQLite through its API table), then finds sqlvault_register_named in the
** same shared object. Loading registers a "sqlvault" VFS as the default: the previous
** first and second entries of SQLite's VFS list are put back in front, so tests see the
** default they expect, and the one after it. Called with suite_mutex. */
static int suite_init_locked(void){
  const char *env = getenv("SQLVAULT_SUITE");
  const char *path, *key;
  sqlite3 *db = 0;
  sqlite3_vfs *prev, *second;
  char *err = 0;
  void *h;
  int rc;

  if( suite_state ) return suite_state;
  if( env && (strcmp(env, "0")==0 || strcmp(env, "off")==0) ){
    return suite_state = -1;
  }
  path = getenv("SQLVAULT_SUITE_EXT");
  if( !path || !*path ) path = SQLVAULT_SUITE_EXT_PATH;
  key = getenv("SQLVAULT_SUITE_KEY");
  if( !key || !*key ) key = SUITE_DEFAULT_KEY;
  if( strlen(key)!=64 || strspn(key, "0123456789abcdefABCDEF")!=64 ){
    suite_fail("SQLVAULT_SUITE_KEY must be 64 hex digits", 0);
    exit(70);
  }
  snprintf(suite_pragma, sizeof(suite_pragma), "PRAGMA key = \"x'%s'\"", key);

  prev = sqlite3_vfs_find(0);
  second = prev ? prev->pNext : 0;
  rc = __real_sqlite3_open_v2(":memory:", &db,
      SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, "unix");
  if( rc==SQLITE_OK ) rc = sqlite3_enable_load_extension(db, 1);
  if( rc==SQLITE_OK ) rc = sqlite3_load_extension(db, path, "sqlite3_sqlvault_init", &err);
  if( rc!=SQLITE_OK ){
    suite_fail("cannot load the sqlvault extension", err ? err : sqlite3_errmsg(db));
    exit(70);   /* never fall back to plain runs silently */
  }
  sqlite3_free(err);
  sqlite3_close(db);
  if( prev ) sqlite3_vfs_register(prev, 1);
  if( second ) sqlite3_vfs_register(second, 0);

  h = dlopen(path, RTLD_NOW|RTLD_NOLOAD);
  if( h ) suite_register_named = (register_named_fn)dlsym(h, "sqlvault_register_named");
  if( !suite_register_named ){
    suite_fail("no sqlvault_register_named in", path);
    exit(70);
  }
  return suite_state = 1;
}

static int suite_on(void){
  int s;
  pthread_mutex_lock(&suite_mutex);
  s = suite_init_locked();
  pthread_mutex_unlock(&suite_mutex);
  return s==1;
}

static int is_sqlvault_vfs(sqlite3_vfs *p){
  return p && p->zName && strncmp(p->zName, "sqlvault", 8)==0;
}

/* The name of the sqlvault instance over the VFS named zParent (NULL: the default), in
** out[]; registers it the first time. The name carries the parent object's address and
** size, because test VFSes are deleted and re-created under the same name (a sqlvault
** instance holds the parent object it was made over). Returns 0 when zParent names no
** VFS (the open then fails as it would without sqlvault) or is sqlvault already. */
static const char *suite_vfs_for(const char *zParent, char *out, size_t n){
  sqlite3_vfs *parent;
  int rc;
  pthread_mutex_lock(&suite_mutex);
  parent = sqlite3_vfs_find(zParent);
  if( zParent==0 && is_sqlvault_vfs(parent) ){
    /* A sqlvault instance became the default because the test VFS in front of it was
    ** unregistered (e.g. "tv delete" of a "testvfs -default 1"); it may sit over that
    ** freed VFS. The test means the default it had before: the first VFS of the list
    ** that is not a sqlvault instance. Make that the default again. */
    sqlite3_vfs *p = parent;
    while( p && is_sqlvault_vfs(p) ) p = p->pNext;
    if( p ){
      sqlite3_vfs_register(p, 1);
      parent = p;
    }
  }
  if( !parent || is_sqlvault_vfs(parent) ){
    pthread_mutex_unlock(&suite_mutex);
    return parent ? zParent : 0;
  }
  snprintf(out, n, "sqlvault~%s~%p~%d~%d~%d", parent->zName, (void*)parent,
           parent->szOsFile, parent->mxPathname, parent->iVersion);
  if( sqlite3_vfs_find(out)==0 ){
    /* sqlite3_vfs_register(x, 0) puts x second in SQLite's list, and the second entry
    ** becomes the default when the first (say a "testvfs -default 1") is unregistered.
    ** A later "testvfs -default 1" would then be layered over a sqlvault instance that
    ** is layered over it: a cycle. Put the entry that was second back in its place. */
    sqlite3_vfs *head = sqlite3_vfs_find(0);
    sqlite3_vfs *second = head ? head->pNext : 0;
    rc = suite_register_named(out, parent->zName, 0);
    if( rc==SQLITE_OK && second ) sqlite3_vfs_register(second, 0);
    if( rc!=SQLITE_OK ){
      char msg[300];
      snprintf(msg, sizeof msg, "sqlvault_register_named(%s) = %d", out, rc);
      suite_fail(msg, 0);
      pthread_mutex_unlock(&suite_mutex);
      exit(70);
    }
  }
  pthread_mutex_unlock(&suite_mutex);
  return out;
}

/* A URI filename with a vfs= query parameter: that parameter, not the zVfs argument,
** picks the VFS. Rewrites it to the sqlvault instance over it. Returns a sqlite3_malloc'd
** URI, or 0 when there is nothing to rewrite. */
static char *suite_rewrite_uri(const char *zFile, int flags){
  const char *q, *p, *v, *e;
  char parent[256], name[400];
  const char *mine;
  if( !zFile || strncmp(zFile, "file:", 5)!=0 ) return 0;
  (void)flags;
  q = strchr(zFile, '?');
  if( !q ) return 0;
  for(p=q; p && *p; p=strchr(p+1, '&')){
    if( strncmp(p+1, "vfs=", 4)==0 ) break;
  }
  if( !p || !*p ) return 0;
  v = p+5;
  e = v + strcspn(v, "&#");
  if( (size_t)(e-v) >= sizeof parent ) return 0;
  memcpy(parent, v, e-v);
  parent[e-v] = 0;
  mine = suite_vfs_for(parent, name, sizeof name);
  if( !mine || mine==parent ) return 0;
  return sqlite3_mprintf("%.*s%s%s", (int)(v-zFile), zFile, mine, e);
}

static int suite_key(sqlite3 *db){
  const char *zName = sqlite3_db_filename(db, "main");
  char *err = 0;
  int rc;
  if( zName==0 || zName[0]==0 ) return SQLITE_OK;     /* :memory:, temp "" database */
  rc = sqlite3_exec(db, suite_pragma, 0, 0, &err);
  if( rc!=SQLITE_OK ){
    char msg[600];
    snprintf(msg, sizeof msg, "key failed on %s (rc=%d)", zName, rc);
    suite_fail(msg, err ? err : sqlite3_errmsg(db));
  }
  sqlite3_free(err);
  return rc;
}

int __wrap_sqlite3_open_v2(const char *zFile, sqlite3 **ppDb, int flags, const char *zVfs){
  char name[400];
  const char *vfs;
  char *uri;
  int rc;
  if( !suite_on() ) return __real_sqlite3_open_v2(zFile, ppDb, flags, zVfs);
  uri = suite_rewrite_uri(zFile, flags);
  vfs = suite_vfs_for(zVfs, name, sizeof name);
  if( vfs==0 ) vfs = zVfs;     /* unknown VFS: let SQLite report it */
  rc = __real_sqlite3_open_v2(uri ? uri : zFile, ppDb, flags, vfs);
  sqlite3_free(uri);
  if( rc==SQLITE_OK ){
    /* A refused key (a test that put a text file where a database goes, a plaintext
    ** file made by a keyless connection) is reported, and the connection stays open as an
    ** application's would: sqlvault then fails every read and write of that database
    ** with the reason (SQLite's "file is not a database"), which is what the test sees. */
    if( suite_key(*ppDb)!=SQLITE_OK ){
      /* Clear the failed pragma's error from the handle (DbMain and others take a
      ** non-zero sqlite3_errcode() right after open for a failed open). */
      sqlite3_exec(*ppDb, "SELECT 1", 0, 0, 0);
    }
  }
  return rc;
}

int __wrap_sqlite3_open(const char *zFile, sqlite3 **ppDb){
  if( !suite_on() ) return __real_sqlite3_open(zFile, ppDb);
  return __wrap_sqlite3_open_v2(zFile, ppDb, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0);
}

/* sqlite3_open16: UTF-16 (native byte order) to UTF-8, then as sqlite3_open, then the
** UTF-16 text encoding that sqlite3_open16 gives a new database. */
int __wrap_sqlite3_open16(const void *zFile16, sqlite3 **ppDb){
  const unsigned short *w = (const unsigned short*)zFile16;
  char *z, *o;
  size_t n = 0;
  int rc;
  if( !suite_on() || zFile16==0 ) return __real_sqlite3_open16(zFile16, ppDb);
  while( w[n] ) n++;
  z = o = sqlite3_malloc64(n*3 + 1);
  if( !z ) return SQLITE_NOMEM;
  for(size_t i=0; i<n; i++){
    unsigned int c = w[i];
    if( c>=0xD800 && c<0xDC00 && i+1<n && w[i+1]>=0xDC00 && w[i+1]<0xE000 ){
      c = 0x10000 + ((c-0xD800)<<10) + (w[i+1]-0xDC00);
      i++;
    }
    if( c<0x80 ){ *o++ = (char)c; }
    else if( c<0x800 ){ *o++ = (char)(0xC0|(c>>6)); *o++ = (char)(0x80|(c&0x3F)); }
    else if( c<0x10000 ){
      *o++ = (char)(0xE0|(c>>12)); *o++ = (char)(0x80|((c>>6)&0x3F)); *o++ = (char)(0x80|(c&0x3F));
    }else{
      *o++ = (char)(0xF0|(c>>18)); *o++ = (char)(0x80|((c>>12)&0x3F));
      *o++ = (char)(0x80|((c>>6)&0x3F)); *o++ = (char)(0x80|(c&0x3F));
    }
  }
  *o = 0;
  rc = __wrap_sqlite3_open_v2(z, ppDb, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0);
  sqlite3_free(z);
  if( rc==SQLITE_OK ){
    /* A no-op on a database that already has content, as in sqlite3_open16. */
    sqlite3_exec(*ppDb, "PRAGMA encoding = 'UTF-16'", 0, 0, 0);
  }
  return rc;
}
