/** A CPU profile of this process's main thread over an interval (node:inspector), written as .cpuprofile. */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

export interface SelfProfile {
  start(): void;
  /** Stops the profile and writes it; resolves when written. */
  stop(): Promise<void>;
}

export function selfProfile(path: string): SelfProfile {
  const session = new Session();
  let started: Promise<unknown> = Promise.resolve();
  return {
    start() {
      session.connect();
      started = session.post('Profiler.enable').then(() => session.post('Profiler.start'));
    },
    async stop() {
      await started;
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await writeFile(path, JSON.stringify(profile));
    },
  };
}
