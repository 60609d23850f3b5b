// Retry delays: client-go's work-queue limiters and the reflector backoff,
// driven by a FakeClock and a scripted random source.
#include "controller/kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"

namespace frugal::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// "prefix" + n, built by appending: g++ 12 at -O3 raises a false -Wrestrict
// on `"literal" + std::to_string(n)` (GCC bug 105329).
std::string numbered(const char* prefix, unsigned long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// ---- ItemExponentialFailureRateLimiter ----

TEST(ItemExponentialFailureRateLimiter, DoublesFromFiveMillisecondsOnEachFailure) {
  ItemExponentialFailureRateLimiter limiter;
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(5));
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(10));
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(20));
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(40));
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(80));
}

TEST(ItemExponentialFailureRateLimiter, CapsDelayAtMaxDelay) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(1), milliseconds(10));
  std::vector<nanoseconds> got;
  for (int i = 0; i < 6; ++i) got.push_back(limiter.when("ns/a"));
  EXPECT_EQ(got, (std::vector<nanoseconds>{milliseconds(1), milliseconds(2), milliseconds(4),
                                           milliseconds(8), milliseconds(10), milliseconds(10)}));
}

TEST(ItemExponentialFailureRateLimiter, DefaultReachesThousandSecondsAndStaysThere) {
  ItemExponentialFailureRateLimiter limiter;
  // 5 ms * 2^17 = 655.36 s is the last uncapped step; 2^18 would be 1310.72 s.
  for (int i = 0; i < 18; ++i) EXPECT_LT(limiter.when("ns/a"), seconds(1000)) << "failure " << i;
  EXPECT_EQ(limiter.when("ns/a"), seconds(1000));
  // Exponents far beyond 64 bits saturate instead of overflowing.
  for (int i = 0; i < 2000; ++i) limiter.when("ns/a");
  EXPECT_EQ(limiter.when("ns/a"), seconds(1000));
}

TEST(ItemExponentialFailureRateLimiter, ForgetResetsBackoffToBaseDelay) {
  ItemExponentialFailureRateLimiter limiter;
  limiter.when("ns/a");
  limiter.when("ns/a");
  limiter.when("ns/a");
  EXPECT_EQ(limiter.num_requeues("ns/a"), 3);
  limiter.forget("ns/a");
  EXPECT_EQ(limiter.num_requeues("ns/a"), 0);
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(5));
}

TEST(ItemExponentialFailureRateLimiter, TracksFailuresPerItemIndependently) {
  ItemExponentialFailureRateLimiter limiter;
  limiter.when("ns/a");
  limiter.when("ns/a");
  EXPECT_EQ(limiter.when("ns/b"), milliseconds(5));
  EXPECT_EQ(limiter.num_requeues("ns/a"), 2);
  EXPECT_EQ(limiter.num_requeues("ns/b"), 1);
  EXPECT_EQ(limiter.num_requeues("ns/never"), 0);
  limiter.forget("ns/b");
  EXPECT_EQ(limiter.when("ns/a"), milliseconds(20));
}

// ---- BucketRateLimiter ----

TEST(BucketRateLimiter, AllowsFullBurstWithoutDelay) {
  FakeClock clock;
  BucketRateLimiter limiter(clock);
  for (int i = 0; i < kDefaultBucketBurst; ++i) {
    EXPECT_EQ(limiter.when(numbered("k", i)), nanoseconds::zero()) << "call " << i;
  }
}

TEST(BucketRateLimiter, SpacesCallsBeyondBurstAtTenPerSecond) {
  FakeClock clock;
  BucketRateLimiter limiter(clock);
  for (int i = 0; i < kDefaultBucketBurst; ++i) limiter.when("x");
  // Each extra call borrows a future token: 100 ms, 200 ms, 300 ms ahead.
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
  EXPECT_EQ(limiter.when("x"), milliseconds(200));
  EXPECT_EQ(limiter.when("x"), milliseconds(300));
}

TEST(BucketRateLimiter, RefillsAsFakeTimeAdvances) {
  FakeClock clock;
  BucketRateLimiter limiter(clock);
  for (int i = 0; i < kDefaultBucketBurst; ++i) limiter.when("x");
  clock.advance(seconds(1));  // 10 tokens back
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.when("x"), nanoseconds::zero()) << "call " << i;
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
}

TEST(BucketRateLimiter, RepaysDebtBeforeAllowingMore) {
  FakeClock clock;
  BucketRateLimiter limiter(clock, /*qps=*/10, /*burst=*/1);
  EXPECT_EQ(limiter.when("x"), nanoseconds::zero());
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
  EXPECT_EQ(limiter.when("x"), milliseconds(200));
  clock.advance(milliseconds(200));  // debt of 2 tokens repaid, bucket empty
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
}

TEST(BucketRateLimiter, NeverRefillsBeyondBurst) {
  FakeClock clock;
  BucketRateLimiter limiter(clock, /*qps=*/10, /*burst=*/5);
  clock.advance(std::chrono::hours(1));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.when("x"), nanoseconds::zero());
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
}

TEST(BucketRateLimiter, HasNoPerItemState) {
  FakeClock clock;
  BucketRateLimiter limiter(clock);
  limiter.when("ns/a");
  EXPECT_EQ(limiter.num_requeues("ns/a"), 0);
  limiter.forget("ns/a");
  EXPECT_EQ(limiter.num_requeues("ns/a"), 0);
}

// ---- MaxOfRateLimiter ----

std::unique_ptr<RateLimiter> max_of(std::unique_ptr<RateLimiter> a,
                                    std::unique_ptr<RateLimiter> b) {
  std::vector<std::unique_ptr<RateLimiter>> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  return std::make_unique<MaxOfRateLimiter>(std::move(v));
}

TEST(MaxOfRateLimiter, ReturnsLongestDelayOfItsLimiters) {
  auto limiter =
      max_of(std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(1), seconds(100)),
             std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(3), seconds(100)));
  EXPECT_EQ(limiter->when("ns/a"), milliseconds(3));
  EXPECT_EQ(limiter->when("ns/a"), milliseconds(6));
}

TEST(MaxOfRateLimiter, ForgetReachesEveryLimiterAndRequeuesIsTheLargest) {
  auto fast = std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(1), seconds(1));
  auto slow = std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(2), seconds(1));
  ItemExponentialFailureRateLimiter* fast_view = fast.get();
  auto limiter = max_of(std::move(fast), std::move(slow));
  limiter->when("ns/a");
  fast_view->when("ns/a");  // only one of them counts this failure
  EXPECT_EQ(limiter->num_requeues("ns/a"), 2);
  limiter->forget("ns/a");
  EXPECT_EQ(limiter->num_requeues("ns/a"), 0);
  EXPECT_EQ(limiter->when("ns/a"), milliseconds(2));
}

TEST(DefaultControllerRateLimiter, FollowsPerItemBackoffUntilBucketRunsOut) {
  FakeClock clock;
  auto limiter = default_controller_rate_limiter(clock);
  EXPECT_EQ(limiter->when("ns/a"), milliseconds(5));
  EXPECT_EQ(limiter->when("ns/a"), milliseconds(10));
  // 98 more distinct first failures drain the 100-token bucket...
  for (int i = 0; i < 98; ++i) limiter->when(numbered("ns/k", i));
  // ...after which the bucket's 100 ms spacing dominates a fresh item's 5 ms.
  EXPECT_EQ(limiter->when("ns/fresh"), milliseconds(100));
  EXPECT_EQ(limiter->num_requeues("ns/a"), 2);
  limiter->forget("ns/a");
  EXPECT_EQ(limiter->num_requeues("ns/a"), 0);
}

// ---- Backoff ----

Backoff::RandomSource constant(double value) {
  return [value] { return value; };
}

TEST(Backoff, DefaultsMatchClientGoReflector) {
  FakeClock clock;
  Backoff backoff(clock);
  EXPECT_EQ(backoff.options().initial, milliseconds(800));
  EXPECT_EQ(backoff.options().max, seconds(30));
  EXPECT_EQ(backoff.options().reset_after, std::chrono::minutes(2));
  EXPECT_DOUBLE_EQ(backoff.options().factor, 2.0);
  EXPECT_DOUBLE_EQ(backoff.options().jitter, 1.0);
}

TEST(Backoff, DoublesFrom800MillisecondsAndCapsAt30Seconds) {
  FakeClock clock;
  Backoff backoff(clock, {}, constant(0.0));
  std::vector<nanoseconds> got;
  for (int i = 0; i < 9; ++i) got.push_back(backoff.next());
  EXPECT_EQ(got,
            (std::vector<nanoseconds>{milliseconds(800), milliseconds(1600), milliseconds(3200),
                                      milliseconds(6400), milliseconds(12800), milliseconds(25600),
                                      seconds(30), seconds(30), seconds(30)}));
}

TEST(Backoff, JitterAddsUpToOneFullStep) {
  FakeClock clock;
  Backoff half(clock, {}, constant(0.5));
  EXPECT_EQ(half.next(), milliseconds(1200));
  EXPECT_EQ(half.next(), milliseconds(2400));

  // Capped steps are jittered too: [30 s, 60 s), as the reflector comment says.
  Backoff almost_one(clock, {}, constant(0.999));
  nanoseconds last{};
  for (int i = 0; i < 10; ++i) last = almost_one.next();
  EXPECT_GE(last, seconds(30));
  EXPECT_LT(last, seconds(60));
}

TEST(Backoff, JitteredDelaysStayWithinOneToTwoSteps) {
  FakeClock clock;
  std::mt19937_64 engine(42);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Backoff jittered(clock, {}, [&] { return uniform(engine); });
  Backoff plain(clock, {}, constant(0.0));
  for (int i = 0; i < 50; ++i) {
    const nanoseconds base = plain.next();
    const nanoseconds got = jittered.next();
    EXPECT_GE(got, base) << "step " << i;
    EXPECT_LT(got, 2 * base) << "step " << i;
  }
}

TEST(Backoff, DefaultRandomSourceStaysWithinJitterBounds) {
  FakeClock clock;
  Backoff backoff(clock);
  const nanoseconds first = backoff.next();
  EXPECT_GE(first, milliseconds(800));
  EXPECT_LT(first, milliseconds(1600));
}

TEST(Backoff, KeepsGrowingWhileFailuresComeWithinTwoMinutes) {
  FakeClock clock;
  Backoff backoff(clock, {}, constant(0.0));
  EXPECT_EQ(backoff.next(), milliseconds(800));
  clock.advance(std::chrono::minutes(2));  // exactly the window: not "more than"
  EXPECT_EQ(backoff.next(), milliseconds(1600));
  clock.advance(std::chrono::seconds(119));
  EXPECT_EQ(backoff.next(), milliseconds(3200));
}

TEST(Backoff, ResetsToInitialAfterTwoMinutesWithoutFailure) {
  FakeClock clock;
  Backoff backoff(clock, {}, constant(0.0));
  for (int i = 0; i < 8; ++i) backoff.next();  // at the 30 s cap
  clock.advance(std::chrono::minutes(2) + nanoseconds(1));
  EXPECT_EQ(backoff.next(), milliseconds(800));
  EXPECT_EQ(backoff.next(), milliseconds(1600));
}

TEST(Backoff, ExplicitResetStartsAgainFromInitial) {
  FakeClock clock;
  Backoff backoff(clock, {}, constant(0.0));
  backoff.next();
  backoff.next();
  backoff.reset();
  EXPECT_EQ(backoff.next(), milliseconds(800));
}

TEST(Backoff, NoJitterWhenJitterIsZero) {
  FakeClock clock;
  BackoffOptions options;
  options.jitter = 0.0;
  Backoff backoff(clock, options, constant(0.9));
  EXPECT_EQ(backoff.next(), milliseconds(800));
}

}  // namespace
}  // namespace frugal::kube
