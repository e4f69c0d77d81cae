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
	indexIDs := flag.Bool("index-ids", true, "give every collection table an index SQLite uses for _id lookups (see indexIDsForever)")
	flag.Parse()

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatalf("create data directory: %v", err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatalf("start FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *indexIDs {
		go indexIDsForever(ctx, *dataDir)
	}

	log.Printf("FerretDB listening on %s (%s)", *listen, f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		log.Fatalf("FerretDB stopped: %v", err)
	}
}

// indexIDsForever works around FerretDB v1.24's SQLite backend never using its own `_id` index:
// a filter on exactly `_id` (find, update, delete) is sent to SQLite as
// `_ferretdb_sjson->'$._id' = ?`, while the unique `_id` index is built on
// `_ferretdb_sjson->"_id"`, an expression SQLite does not consider the same, so every such lookup
// scans the whole table and parses each row's JSON. Every second it gives each collection table
// that lacks one a plain index on the very expression the queries use (`<table>_hulin_id`), which
// SQLite then picks. Nothing else changes: FerretDB does not list SQLite indexes it did not make,
// drops them with their table, and still enforces uniqueness with its own index. MongoDB indexes
// `_id` itself; this only brings the local store's lookups to the same order of cost.
func indexIDsForever(ctx context.Context, dataDir string) {
	dbs := map[string]*sql.DB{}
	defer func() {
		for _, db := range dbs {
			_ = db.Close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "*.sqlite"))
		for _, file := range files {
			db, ok := dbs[file]
			if !ok {
				var err error
				db, err = sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
				if err != nil {
					continue
				}
				db.SetMaxOpenConns(1)
				dbs[file] = db
			}
			if err := indexIDs(ctx, db); err != nil && ctx.Err() == nil {
				log.Printf("index _id lookups in %s: %v", filepath.Base(file), err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func indexIDs(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `
		SELECT t.name FROM sqlite_master t
		WHERE t.type = 'table' AND t.name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		  AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		  AND NOT EXISTS (SELECT 1 FROM sqlite_master i
		                  WHERE i.type = 'index' AND i.name = t.name || '_hulin_id')`)
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
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`,
			table+"_hulin_id", table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // dropped meanwhile
			}
			return err
		}
	}
	return nil
}
