// Package counternode is a ring member whose payload is a PN-counter,
// driven by a line protocol on stdin and stdout, and a driver for such a
// member running as a separate OS process.
//
// The member side is Counter (the ring behaviour) and Run (the line
// protocol around one ring member); examples/cluster is a thin main over
// Main. The driver side is Process: it starts a member process, sends it
// commands and waits for their results, and collects the event lines it
// prints; examples/demo and the integration tests drive their clusters
// with it.
//
// # The line protocol
//
// A member reads one command per line on stdin. Blank lines and lines
// starting with # are ignored; every other line gets exactly one result
// line on stdout, in order:
//
//	inc [N]        add N (default 1) to the counter   -> ok value=V
//	dec [N]        subtract N (default 1)             -> ok value=V
//	get            read the counter                   -> ok value=V
//	all            every member of the ring            -> ok nodes=A,B,C
//	up             the members this one believes up    -> ok nodes=A,B
//	add ADDR       add member ADDR (host:port)         -> ok
//	del ADDR       remove member ADDR from the ring    -> ok
//	down ADDR      force ADDR down (ignored by all)    -> ok
//	undown ADDR    undo down                           -> ok
//	stats          the process's goroutine count       -> ok goroutines=N
//	stop           stop this member's ring and exit 0  -> ok
//	help           list the commands                   -> ok commands=inc,dec,...
//
// V is the member's current value of the counter (after the change, for
// inc and dec); node lists are sorted, comma-separated, and empty when
// there is no node ("nodes="). A command that fails prints
//
//	error TEXT
//
// where TEXT runs to the end of the line. Besides results, a member prints
// one line when it is ready and one line per ring event, as it happens:
//
//	ready node=ADDR ring=NAME pid=PID data=DIR
//	event ring-change reason=R old=A,B,C new=A,B
//	event state-change value=V
//	event terminated reason=K detail="TEXT"
//
// R is one of init, gossip, nodedown, request, removed (ringactor.Reason);
// state-change follows gossip that changed the counter; K is removed (the
// member was deleted from the ring: its ring file is gone), stopped (stop,
// a ring-wide stop, or shutdown) or error. A value that contains a space or
// a double quote is written as a Go quoted string (strconv.Quote). Every
// line is a word followed by key=value fields; ParseLine reads one.
//
// The member exits with status 0 after stop, at the end of stdin, or on
// SIGTERM or SIGINT, each time after stopping its ring (so that the other
// members see it leave at once); it exits with status 1, after an error
// line, when it cannot start, and with status 2 on bad flags. When the ring
// stops for another reason (the member was removed with del on another
// member, or the whole ring was stopped), the process stays up and answers
// every ring command with an error until stop or the end of stdin. Logs go
// to stderr.
package counternode
