// Package leader runs the scaler's work only while this process holds a
// Lease, the way kube-controller-manager does: when the lease is lost the work
// is cancelled at once (nothing is written afterwards) and Run returns
// ErrLost, so that main exits and the kubelet starts the container again with
// clean state. A graceful stop (SIGTERM) lets the work in flight finish before
// the lease is released, so that two scalers never act at once.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// ErrLost is returned by Run when this process held the lease and lost it
// before it was asked to stop.
var ErrLost = errors.New("lost the leader election lease")

// Config says which Lease to hold and how.
type Config struct {
	Namespace, Name string
	// Identity names this process in the Lease (host name and pid).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Client reads and writes the Lease. Its requests must time out well
	// before RenewDeadline (ClientTimeout), or one hung request spends the
	// whole deadline and the lease is lost without a retry
	// (kubernetes/kubernetes#98059).
	Client coordinationv1.LeasesGetter
	// Health, when set, is tied to the elector: its Check fails once this
	// process has held the lease past its expiry without renewing.
	Health *leaderelection.HealthzAdaptor
	// OnLeading, when set, is told true when this process starts leading
	// and false when it stops (a gauge).
	OnLeading func(bool)
	// Acquire, when set, makes every attempt to acquire the lease (not a
	// renewal, nor the release): it calls try, which writes the Lease, and
	// returns its error, or refuses with one of its own. Shards use it to
	// let other replicas come first (internal/shard).
	Acquire func(ctx context.Context, try func() error) error
}

// ClientTimeout is the request timeout a lease client should have: half the
// renew deadline and at least a second, client-go's own rule
// (resourcelock.NewFromKubeconfig).
func ClientTimeout(renewDeadline time.Duration) time.Duration {
	return max(renewDeadline/2, time.Second)
}

// Run campaigns for the lease until ctx ends. While this process leads it
// calls lead with a context that is cancelled the moment the lease is lost;
// lead must return promptly then. lead is expected to watch ctx itself for a
// graceful stop, finish its work in flight and return: only then is the lease
// released (ReleaseOnCancel), so no other replica starts while this one still
// acts.
//
// Run returns nil after a graceful stop, ErrLost when the lease was lost while
// ctx was still live, or lead's error.
func Run(ctx context.Context, cfg Config, lead func(context.Context) error) error {
	logger := klog.FromContext(ctx)
	var lock resourcelock.Interface = &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cfg.Client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	if cfg.Acquire != nil {
		lock = &gatedLock{Interface: lock, acquire: cfg.Acquire}
	}
	ref := klog.KRef(cfg.Namespace, cfg.Name)
	// The elector runs on its own context: cancelling it releases the lease,
	// which must wait until lead has returned.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()

	var (
		mu       sync.Mutex
		leading  bool
		leadErr  error
		lost     bool
		leadDone = make(chan struct{}) // closed when lead has returned
	)
	onLeading := func(b bool) {
		if cfg.OnLeading != nil {
			cfg.OnLeading(b)
		}
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		Name:            cfg.Name,
		WatchDog:        cfg.Health,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				mu.Lock()
				leading = true
				mu.Unlock()
				logger.Info("Started leading", "lease", ref, "identity", cfg.Identity)
				onLeading(true)
				err := lead(leadCtx)
				mu.Lock()
				// Only the elector cancels leadCtx without electCtx: the
				// renewal failed.
				leadErr, lost = err, leadCtx.Err() != nil && electCtx.Err() == nil
				mu.Unlock()
				close(leadDone)
				// The work is over: let the elector release the lease (on a
				// graceful stop) or end (after a lost lease, where leadCtx
				// was cancelled first).
				stopElect()
			},
			OnStoppedLeading: func() {
				onLeading(false)
				mu.Lock()
				wasLeading := leading
				mu.Unlock()
				if wasLeading {
					logger.Info("Stopped leading", "lease", ref, "identity", cfg.Identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("configure leader election: %w", err)
	}
	if cfg.Health != nil {
		cfg.Health.SetLeaderElection(elector)
	}
	// A follower stops campaigning at once on a graceful stop; a leader stops
	// when lead returns (above).
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !leading {
			stopElect()
		}
	})
	defer stopWatch()

	elector.Run(electCtx)

	mu.Lock()
	wasLeading := leading
	mu.Unlock()
	if wasLeading {
		// The elector returns before lead only when the lease was lost (a
		// graceful stop waits for lead); lead's context is cancelled then, so
		// it returns promptly. Wait for it, so that nothing of the work
		// outlives Run.
		select {
		case <-leadDone:
		default:
			logger.Info("Lease lost while leading, waiting for the work to stop", "lease", ref, "identity", cfg.Identity)
			<-leadDone
		}
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case lost && leadErr != nil && !errors.Is(leadErr, context.Canceled):
		return fmt.Errorf("%w (the work ended with: %w)", ErrLost, leadErr)
	case lost:
		return ErrLost
	}
	return leadErr
}

// gatedLock passes the attempts to acquire a lease through acquire. An
// attempt is a Create, or an Update that names this process as the holder
// when the record last read named another (or none); renewals and the
// release go straight through. Only the elector's goroutine uses it.
type gatedLock struct {
	resourcelock.Interface
	acquire func(ctx context.Context, try func() error) error
	// holder is the holder of the record as last read or written.
	holder string
}

func (l *gatedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r, raw, err := l.Interface.Get(ctx)
	switch {
	case err == nil:
		l.holder = r.HolderIdentity
	case apierrors.IsNotFound(err):
		l.holder = ""
	}
	return r, raw, err
}

func (l *gatedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.acquireWith(ctx, ler, l.Interface.Create)
}

func (l *gatedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if ler.HolderIdentity != l.Identity() || l.holder == l.Identity() {
		err := l.Interface.Update(ctx, ler)
		if err == nil {
			l.holder = ler.HolderIdentity
		}
		return err
	}
	return l.acquireWith(ctx, ler, l.Interface.Update)
}

// acquireWith writes ler through the gate. The gate may have waited, so the
// record's times are those of the write.
func (l *gatedLock) acquireWith(ctx context.Context, ler resourcelock.LeaderElectionRecord,
	write func(context.Context, resourcelock.LeaderElectionRecord) error) error {
	err := l.acquire(ctx, func() error {
		now := metav1.Now()
		ler.AcquireTime, ler.RenewTime = now, now
		return write(ctx, ler)
	})
	if err == nil {
		l.holder = ler.HolderIdentity
	}
	return err
}
