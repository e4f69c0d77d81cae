// Command hulin-ferretdb runs the embeddable FerretDB v1 (SQLite handler) on loopback for local
// development and tests. It exists because `go install` of FerretDB's own command panics on a
// missing version file; it must never be used as a production database (use MongoDB there).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the -debug-addr profiles
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses (registered as "sqlite")
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", "data", "directory holding the SQLite databases")
	// WAL with synchronous=NORMAL: a commit is durable against a crash of FerretDB (the WAL is
	// written), only a power loss may drop the last transactions; FULL syncs every commit to disk
	// and makes each write several times slower. A local development/test store, never production.
	synchronous := flag.String("synchronous", "NORMAL", "SQLite synchronous pragma: NORMAL or FULL")
	indexIDsOn := flag.Bool("index-ids", true, "give every collection table an index SQLite uses for _id lookups (see indexIDs)")
	checkpointEvery := flag.Duration("checkpoint-every", time.Second, "checkpoint each WAL in the background this often (see checkpoint); 0 leaves it to SQLite's auto-checkpoint inside a write")
	debugAddr := flag.String("debug-addr", "", "serve Go's pprof profiles here (e.g. 127.0.0.1:6060); off when empty")
	flag.Parse()
	if *debugAddr != "" {
		go func() { log.Printf("pprof: %v", http.ListenAndServe(*debugAddr, nil)) }()
	}

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatalf("create data directory: %v", err)
	}
	if err := tidyDataDir(*dataDir); err != nil {
		log.Fatalf("check data directory: %v", err)
	}

	logger := slog.New(lazyAttrs{h: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(*dataDir, *synchronous, *checkpointEvery > 0),
	})
	if err != nil {
		log.Fatalf("start FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *indexIDsOn {
		go everyDatabaseForever(ctx, *dataDir, time.Second, "index _id lookups in", indexIDs)
	}
	if *checkpointEvery > 0 {
		go everyDatabaseForever(ctx, *dataDir, *checkpointEvery, "checkpoint", checkpoint)
	}
	go func() {
		for tick := time.NewTicker(leftoverQuiet); ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := removeLeftovers(*dataDir, leftoverQuiet); err != nil {
					log.Printf("remove dropped databases' WAL files: %v", err)
				}
			}
		}
	}()

	log.Printf("FerretDB listening on %s (%s)", *listen, f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		log.Fatalf("FerretDB stopped: %v", err)
	}
}

// sqliteURL gives every connection FerretDB opens our pragmas. temp_store(memory): a multi-row
// INSERT inside a transaction (every FerretDB insert) keeps a statement journal of the pages it
// changes, in case a row breaks a constraint; on a temporary file that was a pwrite per page, 13 %
// of FerretDB's CPU while notify drained a backlog. In memory it is a copy.
func sqliteURL(dataDir, synchronous string, backgroundCheckpoints bool) string {
	url := "file:" + dataDir + "/?_pragma=synchronous(" + synchronous + ")&_pragma=temp_store(memory)"
	if backgroundCheckpoints {
		url += "&_pragma=wal_autocheckpoint(0)"
	}
	return url
}

// The WAL needs bounding. A writer restarts the WAL from its start only when its transaction
// begins while all of the WAL is in the database file; under writes that never pause, the
// transaction in flight during a checkpoint commits more frames after it, the next one begins
// behind, and the WAL grows without end (measured: 590 MB after 480 MB of inserts). A RESTART
// checkpoint would force it, but needs the write lock, which SQLite's busy handler (sleeping
// between tries) loses to a busy writer, and holds the writers back while it waits for old
// readers. So past walRestartFrames (16 MB of 4 KB pages) PASSIVE checkpoints are repeated a
// millisecond apart, each copying only the frames committed since the last, until a writer has
// begun on a fully copied WAL and restarted it. No writer waits for this.
const (
	walRestartFrames = 4096
	catchUpTries     = 500
)

// checkpoint moves WAL checkpoints out of FerretDB's writes. By default SQLite checkpoints inside
// the commit that takes the WAL past 1,000 pages: that one write copies the WAL into the database
// file and syncs it before it returns, and the client waiting on it (a consumer's batch, a
// report's store) stalls for the length of the copy. At 100 reports/s the system writes about
// 4,000 pages a second, so that was several stalled writes every second. With auto-checkpoint off
// in FerretDB's connections (sqliteURL), this PASSIVE checkpoint from a connection of ours does the
// copy beside the writers, once a second: it takes no write lock.
func checkpoint(ctx context.Context, db *sql.DB) error {
	for try := 0; ; try++ {
		var busy, frames, copied int
		err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err != nil || frames < walRestartFrames || try == catchUpTries {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond):
		}
	}
}

// everyDatabaseForever runs fn on each database of the data directory every `every`, each on a
// connection of its own opened only for it (withDatabase), and logs what fails.
func everyDatabaseForever(
	ctx context.Context, dataDir string, every time.Duration, what string,
	fn func(context.Context, *sql.DB) error,
) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "*"+sqliteExt))
		for _, file := range files {
			err := withDatabase(file, func(db *sql.DB) error { return fn(ctx, db) })
			if err != nil && ctx.Err() == nil && fileExists(file) {
				log.Printf("%s %s: %v", what, filepath.Base(file), err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// withDatabase opens one database only for as long as fn runs. A connection of ours still open
// when FerretDB drops the database would leave the dropped file's -wal and -shm on disk: SQLite
// removes them when the last connection closes, and once the file is unlinked our close no longer
// may. That still happens when fn runs long (a checkpoint catching up on a large WAL while a
// benchmark drops its database), or when one of FerretDB's own connections is still in use at the
// drop: removeLeftovers then takes them away. mode=rw: a database dropped between the caller's
// glob and this open must not be created again as an empty file, on which FerretDB would refuse
// to start.
func withDatabase(file string, fn func(*sql.DB) error) error {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return fn(db)
}

// indexIDs works around FerretDB v1.24's SQLite backend never using its own `_id` index:
// a filter on exactly `_id` (find, update, delete) is sent to SQLite as
// `_ferretdb_sjson->'$._id' = ?`, while the unique `_id` index is built on
// `_ferretdb_sjson->"_id"`, an expression SQLite does not consider the same, so every such lookup
// scans the whole table and parses each row's JSON. Every second it gives each collection table
// that lacks one a plain index on the very expression the queries use (`<table>_hulin_id`), which
// SQLite then picks. Nothing else changes: FerretDB does not list SQLite indexes it did not make,
// drops them with their table, and still enforces uniqueness with its own index. MongoDB indexes
// `_id` itself; this only brings the local store's lookups to the same order of cost. A second
// index, on `_id` as text (`<table>_hulin_id_text`), serves a string range on `_id` read in `_id`
// order (patch 0005): a page of a key range costs the page, as it does on MongoDB's `_id` index.
func indexIDs(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `
		SELECT t.name FROM sqlite_master t
		WHERE t.type = 'table' AND t.name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		  AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		  AND (NOT EXISTS (SELECT 1 FROM sqlite_master i
		                   WHERE i.type = 'index' AND i.name = t.name || '_hulin_id')
		       OR NOT EXISTS (SELECT 1 FROM sqlite_master i
		                      WHERE i.type = 'index' AND i.name = t.name || '_hulin_id_text'))`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		for _, q := range []string{
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`,
				table+"_hulin_id", table),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->>'$._id')`,
				table+"_hulin_id_text", table),
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				if strings.Contains(err.Error(), "no such table") {
					break // dropped meanwhile
				}
				return err
			}
		}
	}
	return nil
}

const sqliteExt = ".sqlite"

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tidyDataDir runs before FerretDB opens the directory, which it refuses to do at all if one file
// lacks FerretDB's catalogue table. Such a file is a database whose creation never finished (the
// process was killed between SQLite creating the file and FerretDB creating its catalogue) or an
// empty file another program created; a file with no tables at all holds nothing and is removed,
// one with tables is moved to `unreadable/` for a person to look at. A `-wal` or `-shm` whose
// database file is gone is left from a dropped database and is removed.
func tidyDataDir(dataDir string) error {
	files, err := filepath.Glob(filepath.Join(dataDir, "*"+sqliteExt))
	if err != nil {
		return err
	}
	for _, file := range files {
		tables, catalogue, err := sqliteTables(file)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
		if catalogue {
			continue
		}
		if tables == 0 {
			log.Printf("removing %s: an empty database without FerretDB's catalogue", filepath.Base(file))
			if err := removeDatabaseFiles(file); err != nil {
				return err
			}
			continue
		}
		aside := filepath.Join(dataDir, "unreadable")
		if err := os.MkdirAll(aside, 0o755); err != nil {
			return err
		}
		log.Printf("moving %s to %s: %d tables but no FerretDB catalogue", filepath.Base(file), aside, tables)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			err := os.Rename(file+suffix, filepath.Join(aside, filepath.Base(file)+suffix))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return removeLeftovers(dataDir, 0)
}

const leftoverQuiet = 10 * time.Second // how often, and after how long unwritten

// removeLeftovers removes every -wal and -shm whose database is gone (dropped) and that nothing
// has written for `quiet`: a dropped database's WAL left behind (see withDatabase) holds up to
// hundreds of MB, and SQLite would replay it into a new database of the same name. A live
// database's file always exists before its WAL does, so only leftovers match.
func removeLeftovers(dataDir string, quiet time.Duration) error {
	for _, suffix := range []string{"-wal", "-shm"} {
		leftovers, err := filepath.Glob(filepath.Join(dataDir, "*"+sqliteExt+suffix))
		if err != nil {
			return err
		}
		for _, leftover := range leftovers {
			info, err := os.Stat(leftover)
			if err != nil || time.Since(info.ModTime()) < quiet {
				continue
			}
			if !fileExists(strings.TrimSuffix(leftover, suffix)) {
				if err := os.Remove(leftover); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	return nil
}

// sqliteTables counts a database file's tables and says whether FerretDB's catalogue is one.
func sqliteTables(file string) (tables int, catalogue bool, err error) {
	err = withDatabase(file, func(db *sql.DB) error {
		return db.QueryRow(`SELECT count(*), coalesce(sum(name = '_ferretdb_collections'), 0)
			FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &catalogue)
	})
	return tables, catalogue, err
}

func removeDatabaseFiles(file string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(file + suffix); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// lazyAttrs formats a logger's attributes only when a record is written. FerretDB calls
// `Logger.With(slog.Any("args", args))` before and after every SQL statement, and slog's text
// handler quotes the attributes right there, log level or not: every stored document's JSON went
// through strconv.Quote twice per write. That was 11 % of FerretDB's CPU in a profile at 100
// reports/s (`-debug-addr`), for debug lines that are never written.
type lazyAttrs struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (l lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	return l.h.WithAttrs(l.attrs).Handle(ctx, r)
}

func (l lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return lazyAttrs{h: l.h, attrs: append(l.attrs[:len(l.attrs):len(l.attrs)], attrs...)}
}

func (l lazyAttrs) WithGroup(name string) slog.Handler {
	return lazyAttrs{h: l.h.WithAttrs(l.attrs).WithGroup(name)}
}
