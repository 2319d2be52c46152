import { Controller, Get, HttpCode, Param, Res } from '@nestjs/common';
import { StreamRegistry } from 'nestjs-meridian-stream';

/** What a "resume my chat" endpoint needs: the chat's running answer, on any instance. */
@Controller('chats')
export class ChatsController {
  constructor(private readonly registry: StreamRegistry) {}

  /**
   * 200 `{ stream_id, stream_url }` for the running stream created with this `chatId`, on whichever
   * instance produces it; 204 when none runs (what the AI SDK's resume route answers too).
   */
  @Get(':chatId/stream')
  @HttpCode(200)
  async active(
    @Param('chatId') chatId: string,
    @Res({ passthrough: true }) response: { status(code: number): unknown },
  ): Promise<{ stream_id: string; stream_url: string } | undefined> {
    const stream = await this.registry.findActive({ chatId });
    if (!stream) {
      response.status(204);
      return undefined;
    }
    return { stream_id: stream.id, stream_url: `/streams/${stream.id}` };
  }
}
