package store

import (
	"context"
	"fmt"
)

// rowPipe reads audit rows (seq, record, mac, key_id) on a goroutine of its own and
// hands them over in batches, so the database read and the caller's work
// (hashing for verify, encoding for export) run on two cores at once. The
// read is most of the cost; without the pipe, verify reaches about half its
// speed.
type rowPipe struct {
	batches chan []chainRow
	done    chan struct{}
	errc    chan error
	cur     []chainRow
	i       int
	err     error
}

const pipeBatch = 256

// startRowPipe runs query, which must select seq, record, mac, key_id.
func startRowPipe(ctx context.Context, q querier, query string, args ...any) (*rowPipe, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	p := &rowPipe{batches: make(chan []chainRow, 8), done: make(chan struct{}), errc: make(chan error, 1)}
	go func() {
		defer close(p.batches)
		defer rows.Close()
		batch := make([]chainRow, 0, pipeBatch)
		for rows.Next() {
			batch = batch[:len(batch)+1]
			r := &batch[len(batch)-1]
			if err := rows.Scan(&r.seq, &r.record, &r.mac, &r.keyID); err != nil {
				p.errc <- fmt.Errorf("read audit event: %w", err)
				return
			}
			if len(batch) == cap(batch) {
				select {
				case p.batches <- batch:
				case <-p.done:
					return
				}
				// A fresh batch each time: the reader may still hold rows
				// of the last one (verify looks back one row).
				batch = make([]chainRow, 0, pipeBatch)
			}
		}
		if err := rows.Err(); err != nil {
			p.errc <- fmt.Errorf("read audit trail: %w", err)
			return
		}
		if len(batch) > 0 {
			select {
			case p.batches <- batch:
			case <-p.done:
			}
		}
	}()
	return p, nil
}

// next returns the next row, nil at the end. The row stays valid after
// later calls.
func (p *rowPipe) next() (*chainRow, error) {
	for p.i == len(p.cur) {
		b, ok := <-p.batches
		if !ok {
			select {
			case p.err = <-p.errc:
			default:
			}
			return nil, p.err
		}
		p.cur, p.i = b, 0
	}
	p.i++
	return &p.cur[p.i-1], nil
}

// close stops the reader and waits for it, so the connection (or the
// transaction it read in) is free again.
func (p *rowPipe) close() {
	close(p.done)
	for range p.batches {
	}
}
