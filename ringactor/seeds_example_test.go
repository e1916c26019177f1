package ringactor_test

import (
	"fmt"
	"os"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// Every member of a deployment is started the same way, with the others
// as seeds: each joins the ones that are up, at start and as they come up,
// with no AddNode. In Kubernetes, a headless service's name stands for
// every pod (WithSeedDNS); members of a StatefulSet can list their stable
// names instead (WithSeeds("ring-0.ring:7000", "ring-1.ring:7000", ...)).
func ExampleWithSeeds() {
	system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: os.Getenv("POD_IP"), Port: 7000})
	if err != nil {
		fmt.Println(err)
		return
	}
	ring, err := ringactor.Start[*crdt.PNCounter](system, "counter", &Counter{},
		ringactor.WithSeedDNS("counter.default.svc.cluster.local", 7000),
		ringactor.WithSeeds("10.0.0.10:7000"), // and a fixed address or two, if any
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("member", ring.Node(), "joins by itself")
}
