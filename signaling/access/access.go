// Package access is the one home of authorization on cameras: it answers "may user
// (or device) X do action Y on camera Z". Every REST handler and every socket message
// that touches a camera asks it, so the answer is the same whichever way a client
// comes in.
//
// A user's [Role] on a camera is [Owner] when the camera is one of the user's devices,
// the role of the user's active share of the camera ([Admin], [Operator] or
// [Viewer]), or none. [Allows] is the pure rule (the role matrix); a [Checker] looks
// the role up in the store and applies it:
//
//	viewer:   view (live view, presence, the camera in GET /devices), events, clips,
//	          link their own viewer devices to the camera
//	operator: viewer + command (siren, torch, snapshot, …) + arm/disarm
//	admin:    operator + share (invite, change roles, revoke) + configure (settings)
//	owner:    admin + manage (delete the camera, its token, its own links)
//
// A device acts for its user, and reaches a camera only over an active device link
// (store.Linked); a camera device acts on itself (its events, clips, telemetry).
//
// A household (an account: its arming mode and schedule) is the owner's; a user's role
// on another's household is the strongest role of the user's active shares of its
// cameras ([Checker.Household]): an operator of one camera may arm the household.
//
// Refusals are signaling/wire errors: not_found when the user has no role on the
// camera (a stranger learns nothing, not even that it exists), forbidden when the
// role does not allow the action, not_linked when a device lacks the link.
// Both match [ErrDenied] with errors.Is.
//
// Concurrency: a Checker is safe for concurrent use; its methods block on the store.
package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Role is a user's standing on one camera.
type Role string

// Roles, from most to least powerful. None is no standing at all.
const (
	Owner    Role = "owner"
	Admin    Role = store.ShareAdmin
	Operator Role = store.ShareOperator
	Viewer   Role = store.ShareViewer
	None     Role = ""
)

// Action is something done to or with a camera.
type Action string

// Actions.
const (
	// View: live view, presence, seeing the camera and its status; linking one's own
	// viewer devices to it.
	View Action = "view"
	// ReadEvents: the camera's events and notifications (in-app and push).
	ReadEvents Action = "read_events"
	// ReadClips: the camera's recordings and their content.
	ReadClips Action = "read_clips"
	// Command: remote commands (siren, torch, snapshot, …).
	Command Action = "command"
	// Arm: arming and disarming (the household's mode, the camera's armed modes).
	Arm Action = "arm"
	// Share: invite others, list, change and revoke the camera's shares.
	Share Action = "share"
	// Configure: change the camera's settings (name, cooldown, alert modes, …).
	Configure Action = "configure"
	// Manage: what only the owner does: delete the camera, its recordings, end its
	// events by hand, link its own devices.
	Manage Action = "manage"
)

// Actions lists every action, for tests and documentation.
var Actions = []Action{View, ReadEvents, ReadClips, Command, Arm, Share, Configure, Manage}

// Roles lists every role but None.
var Roles = []Role{Owner, Admin, Operator, Viewer}

// rank orders the roles; an action needs at least its rank.
var rank = map[Role]int{None: 0, Viewer: 1, Operator: 2, Admin: 3, Owner: 4}

var needs = map[Action]Role{
	View:       Viewer,
	ReadEvents: Viewer,
	ReadClips:  Viewer,
	Command:    Operator,
	Arm:        Operator,
	Share:      Admin,
	Configure:  Admin,
	Manage:     Owner,
}

// Allows reports whether role r may do action a: the role matrix. An unknown role or
// action allows nothing.
func Allows(r Role, a Action) bool {
	need, ok := needs[a]
	if !ok {
		return false
	}
	have, ok := rank[r]
	return ok && have > 0 && have >= rank[need]
}

// AtLeast reports whether r is at least as powerful as other (an admin may grant
// admin, operator or viewer, never more than it holds).
func AtLeast(r, other Role) bool { return rank[r] >= rank[other] }

// ValidShareRole reports whether r is a role a share can carry.
func ValidShareRole(r string) bool {
	return r == store.ShareViewer || r == store.ShareOperator || r == store.ShareAdmin
}

// ErrDenied matches every refusal of a Checker.
var ErrDenied = errors.New("access denied")

// denied is a refusal: a wire error that also matches ErrDenied.
type denied struct{ err *wire.Error }

func (d denied) Error() string   { return d.err.Error() }
func (d denied) Unwrap() []error { return []error{d.err, ErrDenied} }

func deny(code, format string, args ...any) error {
	return denied{wire.Errorf(code, format, args...)}
}

// Store is the part of the store a Checker reads.
type Store interface {
	Device(ctx context.Context, id string) (store.Device, error)
	ActiveShare(ctx context.Context, cameraDeviceID, userID string) (store.Share, error)
	Linked(ctx context.Context, a, b string) (bool, error)
	ListShares(ctx context.Context, f store.ShareFilter, p store.Page) ([]store.Share, string, error)
}

// Checker looks roles up and applies [Allows].
type Checker struct {
	store Store
}

// New returns a Checker reading st.
func New(st Store) *Checker { return &Checker{store: st} }

// Grant is a positive answer: the camera and the role it was given under. Share is the
// active share behind a role other than Owner.
type Grant struct {
	Camera store.Device
	Role   Role
	Share  *store.Share
}

// RoleOf returns userID's role on the camera (None when it has none, or the camera
// does not exist or is not a camera), with the camera.
func (c *Checker) RoleOf(ctx context.Context, userID, cameraID string) (Grant, error) {
	if !wire.ValidID(cameraID) {
		return Grant{Role: None}, nil
	}
	cam, err := c.store.Device(ctx, cameraID)
	if errors.Is(err, store.ErrNotFound) {
		return Grant{Role: None}, nil
	}
	if err != nil {
		return Grant{}, fmt.Errorf("access: camera: %w", err)
	}
	if cam.UserID == userID {
		return Grant{Camera: cam, Role: Owner}, nil
	}
	if cam.Role != store.RoleCamera {
		return Grant{Role: None}, nil
	}
	sh, err := c.store.ActiveShare(ctx, cameraID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Grant{Role: None}, nil
	}
	if err != nil {
		return Grant{}, fmt.Errorf("access: share: %w", err)
	}
	return Grant{Camera: cam, Role: Role(sh.Role), Share: &sh}, nil
}

// User answers "may userID do a on cameraID": the grant, or a refusal (not_found
// when the user has no role on it, forbidden when the role does not allow a).
// cameraID may name any device of the user's own (its owner may do anything with it);
// another user's device is reachable only as a camera shared with the user.
func (c *Checker) User(ctx context.Context, userID, cameraID string, a Action) (Grant, error) {
	g, err := c.RoleOf(ctx, userID, cameraID)
	if err != nil {
		return Grant{}, err
	}
	if g.Role == None {
		return Grant{}, deny(wire.CodeNotFound, "no such device")
	}
	if !Allows(g.Role, a) {
		return Grant{}, deny(wire.CodeForbidden, "your role on this camera (%s) does not allow %s", g.Role, a)
	}
	return g, nil
}

// Device answers "may device deviceID, of userID, do a on cameraID": its user's
// grant (as [Checker.User]) and an active link between the device and the camera.
// A camera device may do anything to itself.
func (c *Checker) Device(ctx context.Context, userID, deviceID, cameraID string, a Action) (Grant, error) {
	g, err := c.User(ctx, userID, cameraID, a)
	if err != nil {
		return Grant{}, err
	}
	if deviceID == cameraID {
		return g, nil
	}
	linked, err := c.store.Linked(ctx, deviceID, cameraID)
	if err != nil {
		return Grant{}, fmt.Errorf("access: link: %w", err)
	}
	if !linked {
		return Grant{}, deny(wire.CodeNotLinked, "the devices are not linked")
	}
	return g, nil
}

// Household answers "may userID do a on the household of owner" (arming: its mode;
// the empty owner is userID's own). userID's role on it is [Owner] for its own, else
// the strongest role of userID's active shares of the household's cameras. Refusals as
// [Checker.User]: not_found without a share, forbidden when no share allows a.
func (c *Checker) Household(ctx context.Context, userID, owner string, a Action) (Role, error) {
	if owner == "" || owner == userID {
		return Owner, nil
	}
	best := None
	if wire.ValidID(owner) {
		p := store.Page{Limit: 200}
		for {
			shares, next, err := c.store.ListShares(ctx, store.ShareFilter{OwnerUserID: owner, UserID: userID,
				Statuses: []string{store.ShareActive}}, p)
			if err != nil {
				return None, fmt.Errorf("access: household shares: %w", err)
			}
			for _, sh := range shares {
				if r := Role(sh.Role); AtLeast(r, best) {
					best = r
				}
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
	}
	if best == None {
		return None, deny(wire.CodeNotFound, "no such household")
	}
	if !Allows(best, a) {
		return None, deny(wire.CodeForbidden, "your role in this household (%s) does not allow %s", best, a)
	}
	return best, nil
}
