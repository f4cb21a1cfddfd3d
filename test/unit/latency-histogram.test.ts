import { expect } from 'chai';
import { addHistograms, bucketRange, histogramPercentile, LATENCY_BOUNDS_MS, LATENCY_BUCKET_COUNT, latencyBucket } from '../../src/domain/latency-histogram.js';

describe('latency histogram', () => {
  it('buckets are (previous bound, bound], with an overflow bucket', () => {
    expect(latencyBucket(0)).to.equal(0);
    expect(latencyBucket(10)).to.equal(0);
    expect(latencyBucket(11)).to.equal(1);
    expect(latencyBucket(100)).to.equal(4);
    expect(latencyBucket(300_000)).to.equal(LATENCY_BOUNDS_MS.length - 1);
    expect(latencyBucket(300_001)).to.equal(LATENCY_BOUNDS_MS.length);
    expect(latencyBucket(-5)).to.equal(0);
    expect(LATENCY_BUCKET_COUNT).to.equal(LATENCY_BOUNDS_MS.length + 1);
    expect(bucketRange(1)).to.deep.equal({ lower: 10, upper: 25 });
    expect(bucketRange(LATENCY_BOUNDS_MS.length)).to.deep.equal({ lower: 300_000, upper: null });
  });

  it('nearest-rank percentiles land in the true value’s bucket, never below it', () => {
    const samples = [3, 12, 40, 41, 90, 120, 480, 1_200, 2_500, 70_000, 400_000];
    const counts = samples.reduce<number[]>((acc, v) => addHistograms(acc, Object.assign(new Array<number>(latencyBucket(v) + 1).fill(0), { [latencyBucket(v)]: 1 })), []);
    const max = Math.max(...samples);
    for (const p of [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1]) {
      const truth = [...samples].sort((a, b) => a - b)[Math.ceil(p * samples.length) - 1]!;
      const estimate = histogramPercentile(counts, p, max)!;
      expect(latencyBucket(estimate), `p${p}`).to.equal(latencyBucket(truth));
      expect(estimate).to.be.at.least(truth);
    }
    expect(histogramPercentile(counts, 1, max)).to.equal(400_000);
    expect(histogramPercentile([], 0.5, 0)).to.equal(null);
    // Capped by the maximum seen: one 12 ms sample reports 12, not the bound 25.
    expect(histogramPercentile([0, 1], 0.5, 12)).to.equal(12);
  });
});
