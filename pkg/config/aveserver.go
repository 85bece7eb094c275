package config

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultSocket is where aveserver listens and every client connects when
// nothing else is configured.
const DefaultSocket = "/run/ave/aveserver.sock"

// DefaultConfigFile is the installed configuration file.
const DefaultConfigFile = "/etc/ave/ave.conf"

// AVEServer holds the [aveserver.*] sections. Zero values never reach the
// engine: LoadAVEServer starts from DefaultAVEServer.
type AVEServer struct {
	// [aveserver.general]
	ListenAddress    string      // unix socket path
	SocketMode       os.FileMode // permission bits of the socket
	SocketGroup      string      // group owning the socket ("" = unchanged)
	TCPListenAddress string      // optional host:port ("" = off)
	TCPAllowRemote   bool        // allow a non-loopback TCPListenAddress
	Workers          int         // scanning workers (0 = one per CPU)
	QueueLength      int         // scans waiting for a worker before "busy" (0 = 4 per worker)
	LogLevel         string

	// [aveserver.path]
	BasesPath string // signature database directory

	// [aveserver.limits]
	MaxObjectSize       int64
	MaxScanSize         int64
	MaxDepth            int
	MaxFilesInContainer int
	MaxCompressionRatio int
	MaxScanTime         time.Duration

	// [aveserver.cache]
	CacheEnabled bool
	CacheSize    int
}

// DefaultAVEServer is the configuration used with no file.
func DefaultAVEServer() AVEServer {
	return AVEServer{
		ListenAddress:       DefaultSocket,
		SocketMode:          0o660,
		LogLevel:            "info",
		BasesPath:           "/var/lib/ave/bases",
		MaxObjectSize:       64 << 20,
		MaxScanSize:         256 << 20,
		MaxDepth:            16,
		MaxFilesInContainer: 10000,
		MaxCompressionRatio: 250,
		MaxScanTime:         60 * time.Second,
		CacheEnabled:        true,
		CacheSize:           100000,
	}
}

// ClientAddress is where a client reaches this daemon, as scanclient.Dial
// takes it: the unix socket, or "tcp:HOST:PORT" when the daemon listens on
// TCP only (ListenAddress empty).
func (c AVEServer) ClientAddress() string {
	if c.ListenAddress == "" && c.TCPListenAddress != "" {
		return "tcp:" + c.TCPListenAddress
	}
	return c.ListenAddress
}

// LoadAVEServer reads the [aveserver.*] sections of file over the defaults.
// An empty file name gives the defaults.
func LoadAVEServer(file string) (AVEServer, error) {
	c := DefaultAVEServer()
	s := schema{prefix: "aveserver.", owned: map[string]section{
		"aveserver.general": {
			"listenaddress":    optional(absPath(&c.ListenAddress), &c.ListenAddress),
			"socketmode":       fileMode(&c.SocketMode),
			"socketgroup":      str(&c.SocketGroup),
			"tcplistenaddress": optional(tcpAddr(&c.TCPListenAddress), &c.TCPListenAddress),
			"tcpallowremote":   boolean(&c.TCPAllowRemote),
			"workers":          integer(&c.Workers, 0, 1024),
			"queuelength":      integer(&c.QueueLength, 0, 1<<20),
			"loglevel":         oneOf(&c.LogLevel, "debug", "info", "warn", "error"),
		},
		"aveserver.path": {
			"basespath": str(&c.BasesPath),
		},
		"aveserver.limits": {
			"maxobjectsize":       size(&c.MaxObjectSize, 1024),
			"maxscansize":         size(&c.MaxScanSize, 1024),
			"maxdepth":            integer(&c.MaxDepth, 1, 64),
			"maxfilesincontainer": integer(&c.MaxFilesInContainer, 1, 10_000_000),
			"maxcompressionratio": integer(&c.MaxCompressionRatio, 2, 1_000_000),
			"maxscantime":         duration(&c.MaxScanTime, time.Second),
		},
		"aveserver.cache": {
			"enabled":   boolean(&c.CacheEnabled),
			"cachesize": integer(&c.CacheSize, 1, 100_000_000),
		},
	}}
	if err := s.apply(file); err != nil {
		return c, err
	}
	return c, nil
}

// optional lets an empty value through as "" (off) and checks any other
// with set.
func optional(set func(string) error, dst *string) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "" {
			*dst = ""
			return nil
		}
		return set(v)
	}
}

// tcpAddr takes host:port or :port (every interface; aveserver still
// refuses a non-loopback one unless TCPAllowRemote is set).
func tcpAddr(dst *string) func(string) error {
	return func(v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return errors.New("expected host:port")
		}
		*dst = v
		return nil
	}
}
