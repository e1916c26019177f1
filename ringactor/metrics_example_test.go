package ringactor_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// Metrics go to an OpenTelemetry MeterProvider: here an SDK provider with
// a reader the example collects by hand; an application gives it the
// exporter it runs (Prometheus, OTLP). Without WithMeterProvider the ring
// uses the actor system's provider, or OpenTelemetry's global one.
func ExampleWithMeterProvider() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	opts := append(exampleOptions(), ringactor.WithMeterProvider(provider))
	ring, err := ringactor.Start[*crdt.PNCounter](exampleSystem(), "example-metrics", Counter{}, opts...)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer ring.LocalStop(ctx)
	if _, err := ring.Call(ctx, "inc"); err != nil {
		panic(err)
	}

	var collected metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &collected); err != nil {
		panic(err)
	}
	for _, scope := range collected.ScopeMetrics {
		for _, m := range scope.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Gauge[int64]:
				if m.Name == "genserverring.members.up" {
					fmt.Println(m.Name, data.DataPoints[0].Value)
				}
			case metricdata.Histogram[float64]:
				if m.Name == "genserverring.call.duration" {
					fmt.Println(m.Name, data.DataPoints[0].Count, "call(s)")
				}
			}
		}
	}
	// Unordered output:
	// genserverring.members.up 1
	// genserverring.call.duration 1 call(s)
}
