package ringactor

import "github.com/asynkron/protoactor-go/actor"

// SharedTestSystem returns the test binary's one actor system with a
// remote (see sharedRemote), for the package's runnable examples: they run
// in the same process as the tests, and a second remote would race on
// gRPC's process-wide logger. It panics if the remote cannot start.
func SharedTestSystem() *actor.ActorSystem {
	system, err := sharedSystem()
	if err != nil {
		panic(err)
	}
	return system
}
