import { expect } from 'chai';
import { schedulersOf, toRepeatOptions } from '../../jobs/define.js';
import { loadConfig } from '../../src/lib/config.js';
import { QUEUE_NAMES, queueCatalog } from '../../jobs/index.js';
import { checkProcessors, processors } from '../../jobs/processors.js';
import { selectQueues } from '../../jobs/worker.js';

describe('queue catalog', () => {
  it('every catalogued queue has a processor', () => {
    expect(() => checkProcessors(QUEUE_NAMES, processors)).not.to.throw();
    expect(Object.keys(processors).sort()).to.deep.equal([...QUEUE_NAMES].sort());
  });

  it('the worker refuses to start when a queue has no processor', () => {
    expect(() => checkProcessors(['log-retention'], {})).to.throw(/no processor for queue\(s\) log-retention/);
  });

  it('every scheduler payload matches its queue schema and every definition is bounded', () => {
    for (const name of QUEUE_NAMES) {
      const definition = queueCatalog[name];
      expect(definition.name).to.equal(name);
      expect(definition.defaultJobOptions.attempts, name).to.be.greaterThan(1);
      expect(definition.defaultJobOptions.removeOnComplete, name).to.have.property('count');
      expect(definition.defaultJobOptions.removeOnFail, name).to.have.property('count');
      for (const scheduler of schedulersOf<unknown>(definition.schedulers, loadConfig({ env: {}, cwd: '/nonexistent' }))) {
        expect(definition.payload.safeParse(scheduler.data).success, scheduler.id).to.equal(true);
      }
    }
  });

  it('cron schedulers run in UTC unless told otherwise', () => {
    expect(toRepeatOptions({ pattern: '5 * * * *' })).to.deep.equal({ pattern: '5 * * * *', tz: 'UTC' });
    expect(toRepeatOptions({ every: 60_000 })).to.deep.equal({ every: 60_000 });
  });

  describe(selectQueues.name, () => {
    it('defaults to every queue, de-duplicates, and refuses an empty or unknown selection', () => {
      expect(selectQueues(undefined)).to.deep.equal(QUEUE_NAMES);
      expect(selectQueues(['log-retention', 'log-retention'])).to.deep.equal(['log-retention']);
      expect(() => selectQueues([])).to.throw(/No queue selected; valid queues: sync, log-retention, logs, provider-events/);
      expect(() => selectQueues(['nope', 'log-retention'])).to.throw(/"nope".*valid queues: sync, log-retention, logs, provider-events/);
    });
  });
});
