package blobs

import "fmt"

// Set is where recordings are: the primary storage, which takes new clips, and the
// others recording rows may still name (the data directory after a switch to S3, until
// `securecam migrate-blobs` moved its clips), each found by its bucket name.
type Set struct {
	primary  Storage
	byBucket map[string]Storage
	all      []Storage
}

// NewSet returns a Set. Two storages may not have the same bucket name.
func NewSet(primary Storage, others ...Storage) (*Set, error) {
	s := &Set{primary: primary, byBucket: make(map[string]Storage)}
	for _, st := range append([]Storage{primary}, others...) {
		if _, dup := s.byBucket[st.Bucket()]; dup {
			return nil, fmt.Errorf("blobs: two storages are named %q", st.Bucket())
		}
		s.byBucket[st.Bucket()] = st
		s.all = append(s.all, st)
	}
	return s, nil
}

// Primary is the storage new clips go to.
func (s *Set) Primary() Storage { return s.primary }

// Get returns the storage named bucket.
func (s *Set) Get(bucket string) (Storage, bool) {
	st, ok := s.byBucket[bucket]
	return st, ok
}

// All returns every storage, the primary first.
func (s *Set) All() []Storage { return s.all }
