// Command hulin-ferretdb runs the embeddable FerretDB v1 (SQLite handler) on loopback for local
// development and tests. It exists because `go install` of FerretDB's own command panics on a
// missing version file; it must never be used as a production database (use MongoDB there).
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", "data", "directory holding the SQLite databases")
	// WAL with synchronous=NORMAL: a commit is durable against a crash of FerretDB (the WAL is
	// written), only a power loss may drop the last transactions; FULL syncs every commit to disk
	// and makes each write several times slower. A local development/test store, never production.
	synchronous := flag.String("synchronous", "NORMAL", "SQLite synchronous pragma: NORMAL or FULL")
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

	log.Printf("FerretDB listening on %s (%s)", *listen, f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		log.Fatalf("FerretDB stopped: %v", err)
	}
}
