package entra_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

func TestZZTimeoutDebug(t *testing.T) {
	e := setup(t)
	e.client.TAPPolicy(ctx(t))
	e.fake.SetFault("GET /v1.0/users/*", fakegraph.Fault{Delay: 5 * time.Second})
	for i := 0; i < 30; i++ {
		c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Println("PANIC at", i, r)
					fmt.Println(e.logs.String())
					for _, rq := range e.fake.Requests() {
						fmt.Printf("REQ %+v\n", rq)
					}
					t.FailNow()
				}
			}()
			_, err := e.client.User(c, alex)
			_ = err
		}()
		cancel()
	}
}
