package output

import "sync/atomic"

// batch is a run of encoded events handed from the pipeline goroutine to
// sink goroutines. A JSON or text batch may be shared by several sinks of
// the same format (it is encoded once); refs counts the sinks that still
// hold it, and the last one returns it to the pool.
type batch struct {
	buf  []byte
	ends []int32 // message sinks: end offset of each message in buf
	n    int     // events in buf
	refs atomic.Int32
}

// message returns message i of a message batch.
func (b *batch) message(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

// batchPool recycles batches so that the steady state does not allocate. A
// free list as a buffered channel never blocks either side.
type batchPool struct {
	free chan *batch
	size int // target bytes per batch
}

func newBatchPool(size, count int) *batchPool {
	return &batchPool{free: make(chan *batch, count), size: size}
}

func (p *batchPool) get() *batch {
	select {
	case b := <-p.free:
		return b
	default:
		// Room for one more event past the target, so that the last
		// event of a batch rarely grows the buffer.
		return &batch{buf: make([]byte, 0, p.size+p.size/4)}
	}
}

func (p *batchPool) release(b *batch) {
	if b.refs.Add(-1) > 0 {
		return
	}
	if cap(b.buf) > 4*p.size {
		return // a huge event grew it: let it go rather than keep it forever
	}
	b.buf, b.ends, b.n = b.buf[:0], b.ends[:0], 0
	select {
	case p.free <- b:
	default:
	}
}
