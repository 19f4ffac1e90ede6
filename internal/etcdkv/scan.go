package etcdkv

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ScanPage is how many keys one read of Scan returns: a scan of many
// records is many small reads, none of which holds a large response in
// etcd or in the replica.
const ScanPage = 500

// Scan calls visit with every key under prefix in key order, read in pages
// of ScanPage keys, each page a linearizable read of its own bounded by
// timeout; a write that lands during the scan may or may not be seen, as in
// the bbolt stores' scans. storePrefix names the store in errors.
func Scan(cli *clientv3.Client, timeout time.Duration, storePrefix, prefix string, visit func(kv *KeyValue) error) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		resp, err := cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(ScanPage))
		cancel()
		if err != nil {
			return Unavailable("scan the store", storePrefix, err)
		}
		for _, kv := range resp.Kvs {
			if err := visit(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
